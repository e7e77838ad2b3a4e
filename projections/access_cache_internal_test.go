package projections

import (
	"strconv"
	"testing"

	"gatehouse/domain"
)

// The cache's bookkeeping, without a database: what a lookup keeps, and
// what a change that raced it makes it forget.
func TestAccessCacheKeepsOnlyWhatNoChangeRaced(t *testing.T) {
	const acme, globex = domain.OrgID("acme"), domain.OrgID("globex")
	const ada, bob = domain.UserID("ada"), domain.UserID("bob")
	allowed := cachedDecision{found: true, decision: Decision{Allowed: true, Status: domain.StatusActive}}
	kept := func(c *AccessCache, org domain.OrgID, id domain.UserID) bool {
		_, ok, _ := c.get(org, id)
		return ok
	}
	lookup := func(c *AccessCache, org domain.OrgID, id domain.UserID, meanwhile func()) {
		_, _, st := c.get(org, id)
		if meanwhile != nil {
			meanwhile()
		}
		c.put(org, id, allowed, st)
	}
	live := func() *AccessCache {
		c := NewAccessCache(nil, nil)
		c.listening(true)
		return c
	}

	t.Run("not listening: nothing kept", func(t *testing.T) {
		c := NewAccessCache(nil, nil)
		lookup(c, acme, ada, nil)
		if kept(c, acme, ada) {
			t.Fatal("kept before the listener was connected")
		}
		c.listening(true)
		lookup(c, acme, ada, nil)
		c.listening(false)
		if kept(c, acme, ada) {
			t.Fatal("kept after the listener's connection was lost")
		}
	})
	t.Run("quiet lookups are kept", func(t *testing.T) {
		c := live()
		lookup(c, acme, ada, nil)
		lookup(c, acme, bob, func() { c.changed(string(globex)) })
		if !kept(c, acme, ada) || !kept(c, acme, bob) {
			t.Fatal("a lookup no change to its organization raced was not kept")
		}
	})
	for _, race := range []struct {
		name, payload string
		known         bool // the organization has decisions kept before
	}{
		{"the user changed", "acme ada", false},
		{"the user changed, organization known", "acme ada", true},
		{"the organization changed", "acme", false},
		{"the organization changed, known", "acme", true},
		{"everything changed", "*", true},
		{"another user of it changed", "acme bob", true},
	} {
		t.Run("raced: "+race.name, func(t *testing.T) {
			c := live()
			if race.known {
				lookup(c, acme, bob, nil)
			}
			lookup(c, acme, ada, func() { c.changed(race.payload) })
			if kept(c, acme, ada) {
				t.Fatalf("kept a decision read while %q was announced", race.payload)
			}
			lookup(c, acme, ada, nil)
			if !kept(c, acme, ada) {
				t.Fatal("the next quiet lookup was not kept")
			}
		})
	}
	t.Run("a change drops what it names, and only that", func(t *testing.T) {
		c := live()
		for _, k := range []struct {
			org domain.OrgID
			id  domain.UserID
		}{{acme, ada}, {acme, bob}, {globex, ada}} {
			lookup(c, k.org, k.id, nil)
		}
		c.changed("acme ada")
		if kept(c, acme, ada) || !kept(c, acme, bob) || !kept(c, globex, ada) {
			t.Fatal("a user's change dropped the wrong decisions")
		}
		c.changed("acme")
		if kept(c, acme, bob) || !kept(c, globex, ada) {
			t.Fatal("an organization's change dropped the wrong decisions")
		}
		c.changed("*")
		if kept(c, globex, ada) {
			t.Fatal("* kept a decision")
		}
		if c.size != 0 {
			t.Fatalf("size %d after dropping everything", c.size)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c := live()
		epoch := c.epoch
		for i := range accessCacheLimit + 1 {
			lookup(c, acme, domain.UserID(strconv.Itoa(i)), nil)
		}
		if c.size > accessCacheLimit || c.epoch == epoch {
			t.Fatalf("%d decisions kept, limit %d, dropped all: %v", c.size, accessCacheLimit, c.epoch != epoch)
		}
	})
}

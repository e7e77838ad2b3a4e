package eventstore

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/migrations/dbtest"
)

// Given users a batch will need (hinted as its rows are read), when the
// first of their keys is asked for, then all of them are loaded in that
// one query: they are known afterwards even with the table emptied.
func TestHintedKeysAreLoadedWithTheFirstMiss(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	s := New(pool)
	org := uuid.NewString()
	users := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	keys := map[string][]byte{}
	for _, u := range users {
		key, err := NewUserKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[u] = key
		if _, err := pool.Exec(ctx, `INSERT INTO user_keys (user_id, org_id, key) VALUES ($1, $2, $3)`, u, org, key); err != nil {
			t.Fatal(err)
		}
	}
	ticket := "ticket-" + org + "-7" // a stream's key, in stream_keys
	key, err := NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	keys[ticket] = key
	if _, err := pool.Exec(ctx, `INSERT INTO stream_keys (stream_id, org_id, email, key) VALUES ($1, $2, 'ada@example.com', $3)`, ticket, org, key); err != nil {
		t.Fatal(err)
	}
	s.keys.hint(users[1])
	s.keys.hint("ticket-of-nobody") // no key anywhere: must not fail the others
	s.keys.hint(ticket)
	s.keys.hint(users[2])
	first, err := s.UserKey(ctx, users[0])
	if err != nil || !bytes.Equal(first, keys[users[0]]) {
		t.Fatalf("first key: %v (%x)", err, first)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM user_keys; DELETE FROM stream_keys`); err != nil {
		t.Fatal(err)
	}
	for _, u := range append(users[1:], ticket) {
		k, err := s.UserKey(ctx, u)
		if err != nil || !bytes.Equal(k, keys[u]) {
			t.Fatalf("hinted key of %s: %v (%x), want it loaded with the first", u, err, k)
		}
	}
	if len(s.keys.hints) != 0 {
		t.Fatalf("hints left after the load: %v", s.keys.hints)
	}
}

// Given keys loaded at several ages and an erased user, when the keyring
// is swept, then only keys unused for two lifetimes go, the erased user's
// entry stays, a swept key is not mistaken for an erased one, and a
// second sweep within a lifetime does nothing.
func TestKeyringSweepDropsOnlyLongUnusedKeys(t *testing.T) {
	now := time.Now()
	k := &keyring{keys: map[string]keyEntry{
		"recent": {key: []byte("k1"), at: now.Add(-keyTTL / 2)},
		"stale":  {key: []byte("k2"), at: now.Add(-3 * keyTTL / 2)},
		"old":    {key: []byte("k3"), at: now.Add(-3 * keyTTL)},
		"erased": {},
	}}
	k.sweep(now)
	for id, want := range map[string]bool{"recent": true, "stale": true, "old": false, "erased": true} {
		if _, ok := k.keys[id]; ok != want {
			t.Errorf("%s kept: %v, want %v", id, ok, want)
		}
	}
	if a, err := k.cipher("old"); err == nil || a != nil {
		t.Fatalf("a swept key read as %v, %v; want an error, not the erased answer", a, err)
	}
	if a, err := k.cipher("erased"); err != nil || a != nil {
		t.Fatalf("an erased user's cipher: %v, %v; want none and no error", a, err)
	}
	k.keys["older"] = keyEntry{key: []byte("k4"), at: now.Add(-5 * keyTTL)}
	k.sweep(now.Add(keyTTL / 2))
	if _, ok := k.keys["older"]; !ok {
		t.Fatal("swept twice within a lifetime")
	}
	k.sweep(now.Add(keyTTL))
	if _, ok := k.keys["older"]; ok {
		t.Fatal("not swept a lifetime later")
	}
}

package commands

import (
	"sync"
	"time"

	"gatehouse/eventstore"
)

// StaffTokensChannel is notified in the transaction that revokes a staff
// token, so that every process drops the identities it keeps.
const StaffTokensChannel = "gatehouse_staff_tokens"

// staffTokenTTL bounds how long an identity is kept, whatever happens.
const staffTokenTTL = time.Minute

// staffTokenCache keeps the identities of staff tokens by hash, so that a
// request need not look its token up: that was a round trip and a twelfth
// of the server's work per command. It is only trusted while revocations
// are heard: it is empty and unused until the listener is connected, and emptied by
// every revocation in any process (StaffTokensChannel) and whenever the
// listener's connection is lost. A revocation in this process empties it
// before the command answers; in another, once the notification arrives
// (milliseconds after the revocation commits).
type staffTokenCache struct {
	mu   sync.Mutex
	live bool
	// gen changes with every forget, so that a lookup that started before
	// a revocation cannot store what it read after it was forgotten.
	gen    uint64
	byHash map[string]cachedStaff
}

type cachedStaff struct {
	identity StaffIdentity
	at       time.Time
}

// get returns the identity kept for a token hash, and the generation to
// pass to put after a lookup.
func (c *staffTokenCache) get(hash string, now time.Time) (StaffIdentity, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !c.live || !ok || now.Sub(e.at) > staffTokenTTL {
		return StaffIdentity{}, false, c.gen
	}
	return e.identity, true, c.gen
}

func (c *staffTokenCache) put(hash string, id StaffIdentity, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if c.byHash == nil || len(c.byHash) >= 10_000 {
		c.byHash = map[string]cachedStaff{}
	}
	c.byHash[hash] = cachedStaff{identity: id, at: now}
}

func (c *staffTokenCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.byHash = nil
}

// listening starts or stops trusting the cache; either way it starts empty.
func (c *staffTokenCache) listening(on bool) {
	c.forget()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = on
}

// WatchStaffTokens keeps staff identities between requests while wake
// hears revocations (see staffTokenCache); without it every request looks
// its token up. Call it before wake runs.
func (a *App) WatchStaffTokens(wake *eventstore.Wakeup) {
	wake.Watch(StaffTokensChannel, eventstore.Watcher{Notified: func(string) { a.staffTokens.forget() }, Listening: a.staffTokens.listening})
}

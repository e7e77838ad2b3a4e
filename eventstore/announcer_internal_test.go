package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// gatedSends is a send function that blocks each send until released and
// records when each one started.
type gatedSends struct {
	mu       sync.Mutex
	started  []time.Time
	payloads []string
	gate     chan struct{}
	began    chan struct{}
	fail     bool
}

func newGatedSends() *gatedSends {
	return &gatedSends{gate: make(chan struct{}), began: make(chan struct{}, 100)}
}

func (g *gatedSends) send(ctx context.Context, payload string) error {
	g.mu.Lock()
	g.started = append(g.started, time.Now())
	g.payloads = append(g.payloads, payload)
	g.mu.Unlock()
	g.began <- struct{}{}
	<-g.gate
	if g.fail {
		return errors.New("connection refused")
	}
	return nil
}

func (g *gatedSends) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.started)
}

var userCreated = []string{"UserCreated"}

func waitFor(t *testing.T, c chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement started within 5 s")
	}
}

// Given an announcement on its way, when many appends commit meanwhile,
// then they share one more announcement, sent after the first returns,
// and nothing more is sent.
func TestAnnouncementsCoalesceWhileOneIsSent(t *testing.T) {
	g := newGatedSends()
	a := newAnnouncer(g.send)
	a.announce(userCreated)
	waitFor(t, g.began)
	lastAsked := time.Now()
	for range 50 {
		lastAsked = time.Now()
		a.announce(userCreated)
	}
	g.gate <- struct{}{} // the first returns
	waitFor(t, g.began)
	g.mu.Lock()
	second := g.started[1]
	g.mu.Unlock()
	if second.Before(lastAsked) {
		t.Fatalf("the second announcement started at %v, before the last append asked at %v", second, lastAsked)
	}
	g.gate <- struct{}{}
	time.Sleep(50 * time.Millisecond)
	if n := g.count(); n != 2 {
		t.Fatalf("%d announcements for 51 appends in two bursts, want 2", n)
	}
	close(g.gate)
	a.close()
}

// Given an append asking for an announcement while another is on its way,
// when the store closes, then the one asked for is still sent before close
// returns.
func TestClosingSendsTheAnnouncementAskedFor(t *testing.T) {
	g := newGatedSends()
	a := newAnnouncer(g.send)
	a.announce(userCreated)
	waitFor(t, g.began)
	a.announce(userCreated)
	closed := make(chan struct{})
	go func() {
		a.close()
		close(closed)
	}()
	g.gate <- struct{}{}
	waitFor(t, g.began)
	select {
	case <-closed:
		t.Fatal("close returned while the last announcement was still being sent")
	case <-time.After(20 * time.Millisecond):
	}
	g.gate <- struct{}{}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return")
	}
	if n := g.count(); n != 2 {
		t.Fatalf("%d announcements sent, want 2", n)
	}
}

// Given the database refusing announcements, when appends ask for them,
// then each failure is counted and the next one is still tried.
func TestFailedAnnouncementsAreCounted(t *testing.T) {
	g := newGatedSends()
	g.fail = true
	close(g.gate)
	a := newAnnouncer(g.send)
	a.announce(userCreated)
	waitFor(t, g.began)
	a.announce(userCreated)
	waitFor(t, g.began)
	a.close()
	if n := a.failed.Load(); n != 2 {
		t.Fatalf("%d failures counted, want 2", n)
	}
}

// Given an announcement on its way, when appends of several types commit
// meanwhile, then the next announcement names each of their types once,
// sorted, and none of the first's that no later append had; once it has
// gone, an announcement asked for by an append it covered sends nothing.
func TestAnAnnouncementNamesTheTypesOfTheAppendsItCovers(t *testing.T) {
	g := newGatedSends()
	a := newAnnouncer(g.send)
	a.announce([]string{"InvitationSent", "UserCreated"})
	waitFor(t, g.began)
	a.announce([]string{"UserDeactivated"})
	a.announce([]string{"TicketCreated", "UserDeactivated"})
	a.announce([]string{"CompanyCreated"})
	g.gate <- struct{}{}
	waitFor(t, g.began)
	// An append whose types the second announcement took before the
	// append's own poke: that poke finds nothing left to send.
	a.poke <- struct{}{}
	g.gate <- struct{}{}
	a.close()
	g.mu.Lock()
	defer g.mu.Unlock()
	want := []string{"InvitationSent,UserCreated", "CompanyCreated,TicketCreated,UserDeactivated"}
	if fmt.Sprint(g.payloads) != fmt.Sprint(want) {
		t.Fatalf("payloads %q, want %q", g.payloads, want)
	}
}

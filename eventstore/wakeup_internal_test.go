package eventstore

import (
	"testing"

	"github.com/rs/zerolog"
)

// Given subscribers of some event types and one of every type, when
// notifications arrive, then each wakes only for a payload naming one of its
// types (a whole name, not a prefix), and all wake for an empty payload
// (an older process's, or one with too many types to name).
func TestWakeupWakesTypedSubscribersOnlyForTheirTypes(t *testing.T) {
	w := NewWakeup("", zerolog.Nop())
	tickets := w.register([]string{"TicketCreated", "OrderConfirmed"})
	every := w.register(nil)
	for _, c := range []struct {
		payload              string
		wakeTickets, wakeAll bool
	}{
		{"InvitationSent,UserCreated", false, true},
		{"TicketCreatedLater", false, true},
		{"Ticket", false, true},
		{"OrderConfirmed", true, true},
		{"InvitationSent,TicketCreated,UserCreated", true, true},
		{"", true, true},
	} {
		w.wake(c.payload)
		if woken := drained(tickets); woken != c.wakeTickets {
			t.Errorf("payload %q: typed subscriber woken %v, want %v", c.payload, woken, c.wakeTickets)
		}
		if woken := drained(every); woken != c.wakeAll {
			t.Errorf("payload %q: untyped subscriber woken %v, want %v", c.payload, woken, c.wakeAll)
		}
	}
}

func drained(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// An append's payload names each type once, sorted; one with more than
// fits names none, which wakes everyone.
func TestTypesPayload(t *testing.T) {
	events := []NewEvent{{Type: "UserCreated"}, {Type: "InvitationSent"}, {Type: "UserCreated"}}
	if got := typesPayload(eventTypes(events)); got != "InvitationSent,UserCreated" {
		t.Fatalf("payload %q", got)
	}
	var many []NewEvent
	for i := range 200 {
		many = append(many, NewEvent{Type: "SomeRatherLongEventTypeName" + string(rune('A'+i%26)) + string(rune('A'+i/26))})
	}
	if got := typesPayload(eventTypes(many)); got != "" {
		t.Fatalf("payload of %d bytes, want none", len(got))
	}
}

package projections

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/eventstore"
)

func hashedEvent() eventstore.RecordedEvent {
	return eventstore.RecordedEvent{Position: 42, ID: uuid.MustParse("01a210b3-d2fc-7f17-a237-82c00a97e575"), StreamID: "user-1947ad45-06bf-41b1-b938-34d03cab1f15",
		OrgID: "0d9f3ad2-3f0e-4a51-9d4e-6e0b7c3a1f55", StreamVersion: 3, Type: "UserCreated", SchemaVersion: 1,
		Data: []byte(`{"email":"ada@example.test"}`), Stored: []byte(`{"email":{"t":"s","$enc":"x"}}`),
		RawMetadata: []byte(`{"actor":{"kind":"staff"}}`), RecordedAt: time.Date(2026, 11, 25, 3, 20, 1, 123456000, time.FixedZone("x", 3600))}
}

// Chains sealed before the cut-over were sealed with the first rule: given
// fixed events before it, it must give the very hashes it gave when they
// were sealed, or every audit verification of an existing log would fail.
func TestEventHashIsStable(t *testing.T) {
	before := hashRule{v2From: 1000}
	e := hashedEvent()
	first := before.hash(genesis, e)
	e2 := e
	e2.Position, e2.Stored, e2.RawMetadata = 43, nil, nil
	second := before.hash(first, e2)
	for _, c := range []struct {
		got  []byte
		want string
	}{{first, "8d795f449bc2f7e2c636e34e6e6fac5a0d74f6c6944d4ae39580339c9dc53775"}, {second, "1779b97f5eeca72946b6656d6af8dbb6f8dfc7c6b80ae2859d35ee015437de06"}} {
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("hash %x, want %s", c.got, c.want)
		}
	}
}

// The second rule covers every column of the event: given an event from
// the cut-over on, when any one of them (or the previous hash) changes,
// then so does its hash, and the hash is not the first rule's.
func TestSecondHashRuleCoversEveryColumn(t *testing.T) {
	rule := hashRule{v2From: 42}
	e := hashedEvent()
	sealed := rule.hash(genesis, e)
	// Pinned like the first rule's: chains are sealed with it from now on.
	if got := hex.EncodeToString(sealed); got != "b30df10e3de09f460fd170673a21a09c41c0f92b35130c8523091fddda2947cc" {
		t.Errorf("second rule's hash %s changed", got)
	}
	if string(sealed) == string(hashRule{v2From: 43}.hash(genesis, e)) {
		t.Fatal("the event hashes the same under both rules")
	}
	for name, change := range map[string]func(*eventstore.RecordedEvent){
		"previous hash":  nil,
		"position":       func(e *eventstore.RecordedEvent) { e.Position++ },
		"id":             func(e *eventstore.RecordedEvent) { e.ID[15]++ },
		"organization":   func(e *eventstore.RecordedEvent) { e.OrgID = "1" + e.OrgID[1:] },
		"stream":         func(e *eventstore.RecordedEvent) { e.StreamID += "x" },
		"stream version": func(e *eventstore.RecordedEvent) { e.StreamVersion++ },
		"type":           func(e *eventstore.RecordedEvent) { e.Type = "UserInvited" },
		"schema version": func(e *eventstore.RecordedEvent) { e.SchemaVersion++ },
		"stored data":    func(e *eventstore.RecordedEvent) { e.Stored = []byte(`{"email":{"t":"s","$enc":"y"}}`) },
		"metadata":       func(e *eventstore.RecordedEvent) { e.RawMetadata = []byte(`{"actor":{"kind":"user"}}`) },
		"recorded time":  func(e *eventstore.RecordedEvent) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
	} {
		changed, prev := e, genesis
		if change == nil {
			prev = sealed
		} else {
			change(&changed)
		}
		if string(rule.hash(prev, changed)) == string(sealed) {
			t.Errorf("changing the %s leaves the hash as it was", name)
		}
	}
	// Revealed data is not what was sealed: erasure must keep the chain.
	revealed := e
	revealed.Data = []byte(`{"email":"[erased]"}`)
	if string(rule.hash(genesis, revealed)) != string(sealed) {
		t.Error("the hash depends on the revealed data, not the stored data")
	}
}

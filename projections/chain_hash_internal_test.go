package projections

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/eventstore"
)

// Stored chains were sealed with EventHash: given fixed events, it must
// give the very hashes it gave when they were sealed, or every audit
// verification of an existing log would fail.
func TestEventHashIsStable(t *testing.T) {
	e := eventstore.RecordedEvent{Position: 42, ID: uuid.MustParse("01a210b3-d2fc-7f17-a237-82c00a97e575"), StreamID: "user-1947ad45-06bf-41b1-b938-34d03cab1f15",
		StreamVersion: 3, Type: "UserCreated", SchemaVersion: 1, Data: []byte(`{"email":"ada@example.test"}`), Stored: []byte(`{"email":{"t":"s","$enc":"x"}}`),
		RawMetadata: []byte(`{"actor":{"kind":"staff"}}`), RecordedAt: time.Date(2026, 11, 25, 3, 20, 1, 123456000, time.FixedZone("x", 3600))}
	first := EventHash(genesis, e)
	e2 := e
	e2.Position, e2.Stored, e2.RawMetadata = 43, nil, nil
	second := EventHash(first, e2)
	for _, c := range []struct {
		got  []byte
		want string
	}{{first, "8d795f449bc2f7e2c636e34e6e6fac5a0d74f6c6944d4ae39580339c9dc53775"}, {second, "1779b97f5eeca72946b6656d6af8dbb6f8dfc7c6b80ae2859d35ee015437de06"}} {
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("hash %x, want %s", c.got, c.want)
		}
	}
}

package projections

import (
	"testing"

	"github.com/google/uuid"

	"gatehouse/eventstore"
)

// The chain's rebuild keeps its rows in chunks: given more events than
// two chunks hold, in two organizations, cut over to the second hash rule
// within the first chunk, when the rows are read for COPY,
// then every event comes once, in order, with its organization's next
// sequence number and the hash the live read model would give it.
func TestChainFoldGivesEveryRowAcrossChunks(t *testing.T) {
	rule := hashRule{v2From: chainChunk}
	c := &Chain{}
	c.rule.Store(&rule)
	f := c.Fold().(*chainFold)
	orgs := []string{uuid.NewString(), uuid.NewString()}
	const n = 2*chainChunk + 5
	prev := map[string][]byte{orgs[0]: genesis, orgs[1]: genesis}
	want := make([][]byte, n)
	for i := range n {
		e := eventstore.RecordedEvent{Position: int64(i + 1), ID: uuid.New(), StreamID: "s", StreamVersion: i + 1, Type: "PortalEnabled",
			OrgID: orgs[i%2], Data: []byte(`{}`)}
		if err := f.Add(e, nil); err != nil {
			t.Fatal(err)
		}
		prev[e.OrgID] = rule.hash(prev[e.OrgID], e)
		want[i] = prev[e.OrgID]
	}
	if len(f.rows) != 3 {
		t.Fatalf("%d chunks, want 3", len(f.rows))
	}
	next := f.copyRows()
	for i := range n {
		row, err := next()
		if err != nil || row == nil {
			t.Fatalf("row %d: %v %v", i, row, err)
		}
		if seq, pos := row[1].(int64), row[2].(int64); seq != int64(i/2+1) || pos != int64(i+1) || string(row[3].([]byte)) != string(want[i]) {
			t.Fatalf("row %d: seq %d position %d, want %d and %d with the live hash", i, seq, pos, i/2+1, i+1)
		}
	}
	if row, err := next(); row != nil || err != nil {
		t.Fatalf("after the last row: %v %v", row, err)
	}
}

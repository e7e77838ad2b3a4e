package commands

import (
	"errors"
	"testing"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

func recorded(t *testing.T, stream string, version int, e domain.Event) eventstore.RecordedEvent {
	t.Helper()
	data, err := domain.EncodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{StreamID: stream, StreamVersion: version, Type: e.EventType(), SchemaVersion: domain.SchemaVersion, Data: data}
}

// Given what was read after the cached events, the cache answers with the
// kept aggregate only when nothing is new, folds anew otherwise, and says
// so when the events a tail follows are gone.
func TestStreamCacheFoldsOnlyWhatIsNew(t *testing.T) {
	const stream = "company-1"
	created := recorded(t, stream, 1, domain.CompanyCreated{CompanyID: "1", OrgID: "o", Name: "Initech"})
	renamed := recorded(t, stream, 2, domain.CompanyUpdated{Name: "Initrode"})
	c := newStreamCache[domain.Company]()

	read := c.tail(stream)
	if read.AfterVersion != 0 {
		t.Fatalf("nothing kept, yet read after %d", read.AfterVersion)
	}
	first, err := c.resolve(read, []eventstore.RecordedEvent{created})
	if err != nil || first.Name != "Initech" {
		t.Fatalf("first: %v %+v", err, first)
	}
	read = c.tail(stream)
	if read.AfterVersion != 1 {
		t.Fatalf("one event kept, read after %d", read.AfterVersion)
	}
	again, err := c.resolve(read, nil)
	if err != nil || again != first {
		t.Fatalf("nothing new: want the kept aggregate, got %v %p (kept %p)", err, again, first)
	}
	// Another command saw the rename first and kept it; this one read the
	// rename after the first event too.
	if _, err := c.resolve(read, []eventstore.RecordedEvent{renamed}); err != nil {
		t.Fatal(err)
	}
	late, err := c.resolve(read, []eventstore.RecordedEvent{renamed})
	if err != nil || late.Name != "Initrode" || late == first || first.Name != "Initech" {
		t.Fatalf("renamed: %v %+v (the first must stay as it was: %+v)", err, late, first)
	}
	// Read after an empty stream: nothing is kept for ids that name nothing.
	if agg, err := c.resolve(c.tail("company-2"), nil); err != nil || agg.Exists() {
		t.Fatalf("empty stream: %v %+v", err, agg)
	}
	if _, kept := c.entries["company-2"]; kept {
		t.Fatal("an empty stream was kept")
	}
	c.entries = map[string]cachedStream[*domain.Company]{}
	if _, err := c.resolve(read, nil); !errors.Is(err, errEvicted) {
		t.Fatalf("evicted: %v", err)
	}
}

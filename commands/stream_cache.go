package commands

import (
	"errors"
	"sync"

	"gatehouse/eventstore"
)

// streamCache keeps aggregates that commands only read (a new user's
// company and organization) with the events they were folded from, so
// that a command reads only what was appended since: the same round trip
// as reading the stream whole, and as fresh, without reading and decoding
// the whole stream again. A cached aggregate is shared and must not be
// changed; any new event makes a fresh one.
type streamCache[A any, PA interface {
	*A
	aggregate
}] struct {
	mu      sync.Mutex
	entries map[string]cachedStream[PA]
}

type cachedStream[PA any] struct {
	events []eventstore.RecordedEvent
	agg    PA
}

// errEvicted: the cached events a tail was read after are gone.
var errEvicted = errors.New("cached stream evicted")

// streamCacheSize bounds each cache; beyond it an arbitrary entry goes.
const streamCacheSize = 4096

func newStreamCache[A any, PA interface {
	*A
	aggregate
}]() *streamCache[A, PA] {
	return &streamCache[A, PA]{entries: map[string]cachedStream[PA]{}}
}

// tail is what to read of stream: the events after the cached ones.
func (c *streamCache[A, PA]) tail(stream string) eventstore.StreamTail {
	c.mu.Lock()
	defer c.mu.Unlock()
	return eventstore.StreamTail{Stream: stream, AfterVersion: len(c.entries[stream].events)}
}

// kept is the aggregate of stream as this cache last saw it, with its
// version, without reading anything; ok is false when it has none.
func (c *streamCache[A, PA]) kept(stream string) (agg PA, version int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[stream]
	return e.agg, len(e.events), ok
}

// resolve is the aggregate of stream given its tail read after
// read.AfterVersion events (tail returned for that read).
func (c *streamCache[A, PA]) resolve(read eventstore.StreamTail, tail []eventstore.RecordedEvent) (PA, error) {
	c.mu.Lock()
	cached, ok := c.entries[read.Stream]
	c.mu.Unlock()
	if ok && len(cached.events) == read.AfterVersion && len(tail) == 0 {
		return cached.agg, nil
	}
	var events []eventstore.RecordedEvent
	switch {
	case read.AfterVersion == 0:
		events = tail
	case ok && len(cached.events) >= read.AfterVersion:
		// Events never change: the first AfterVersion cached are the
		// ones the tail follows, even if the entry grew meanwhile.
		events = append(append(events, cached.events[:read.AfterVersion]...), tail...)
	default:
		return nil, errEvicted // read the stream whole instead
	}
	agg, _, err := fold[A, PA](read.Stream, events)
	if err != nil || len(events) == 0 {
		return agg, err // an empty stream is not kept: ids from callers may be anything
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if current, ok := c.entries[read.Stream]; !ok || len(current.events) < len(events) {
		if !ok && len(c.entries) >= streamCacheSize {
			for k := range c.entries {
				delete(c.entries, k)
				break
			}
		}
		c.entries[read.Stream] = cachedStream[PA]{events: events, agg: agg}
	}
	return agg, nil
}

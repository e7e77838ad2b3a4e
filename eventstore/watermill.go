package eventstore

import (
	"bytes"
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// Topic is the Watermill topic name under which the events table is served.
const Topic = "events"

// Message metadata keys set by WatermillSchema on every delivered event.
const (
	MetaPosition      = "position"
	MetaTransactionID = "transaction_id"
	MetaStreamID      = "stream_id"
	MetaStreamVersion = "stream_version"
	MetaOrgID         = "org_id"
	MetaEventType     = "event_type"
	MetaSchemaVersion = "schema_version"
	MetaRecordedAt    = "recorded_at"
	MetaEvent         = "event_metadata"
	// MetaMembersAligned is "true" on an event delivered to consumer
	// groups fed together (SubscriberConfig.Members) whose offsets the
	// delivery found all equal: none of them has applied the event, and
	// a handler need not read their offsets to know it.
	MetaMembersAligned = "members_aligned"
)

// WatermillSchema is a watermill-sql SchemaAdapter over the events table.
// Subscribers read the table directly, in commit order and below the
// snapshot's xmin, exactly as watermill-sql's own PostgreSQL schema does for
// its tables. Publishing through it is refused: only Store.Append writes
// events.
type WatermillSchema struct {
	// BatchSize is how many events one subscriber transaction reads and
	// delivers. Large batches make catching up on a backlog fast.
	BatchSize int
	// read, when set, counts the rows of the last read, so that the
	// subscriber's backoff knows whether it read a full batch.
	read *atomic.Int64
	// Types, when set, are the only event types the subscriber's handler
	// acts on; the others are not read (see SelectQuery).
	Types []string
	// keys, when set, is told which users' keys the rows read will need,
	// so that the first reveal of a batch loads them all at once.
	keys *keyring
	// members, when set, are the consumer groups a subscriber feeds
	// together (see memberOffsets); each row then tells whether their
	// offsets were all equal (MetaMembersAligned).
	members []string
}

// ErrPublishThroughAppend is returned by InsertQuery.
var ErrPublishThroughAppend = errors.New("events are published by eventstore.Store.Append, not by a watermill publisher")

func (s WatermillSchema) InsertQuery(wsql.InsertQueryParams) (wsql.Query, error) {
	return wsql.Query{}, ErrPublishThroughAppend
}

func (s WatermillSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil // the events table is created by migrations
}

func (s WatermillSchema) SubscribeIsolationLevel() stdsql.IsolationLevel {
	return stdsql.LevelRepeatableRead
}

func (s WatermillSchema) SelectQuery(params wsql.SelectQueryParams) (wsql.Query, error) {
	if params.Topic != Topic {
		return wsql.Query{}, fmt.Errorf("topic %q is not served by the event store (only %q)", params.Topic, Topic)
	}
	next, err := params.OffsetsAdapter.NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: params.Topic, ConsumerGroup: params.ConsumerGroup})
	if err != nil {
		return wsql.Query{}, err
	}
	batch := s.BatchSize
	if batch <= 0 {
		batch = 100
	}
	if s.read != nil {
		s.read.Store(0)
	}
	if len(s.Types) > 0 {
		return s.typedSelect(next, batch), nil
	}
	if s.tellsAlignment() {
		return s.membersSelect(batch), nil
	}
	q := `
WITH last_processed AS (` + next.Query + `)
SELECT ` + messageColumns + `
FROM events
WHERE ` + afterOffset + `
  AND transaction_id < (` + visibleHorizon + `)
ORDER BY transaction_id, position
LIMIT ` + strconv.Itoa(batch)
	return wsql.Query{Query: q, Args: next.Args}, nil
}

// afterOffset selects the events after the consumer group's offset (the
// CTE last_processed), in commit order.
const afterOffset = `(transaction_id, position) > ((SELECT last_processed_transaction_id FROM last_processed), (SELECT offset_acked FROM last_processed))`

// messageColumns are the columns UnmarshalMessage scans.
const messageColumns = `position, transaction_id, event_id, stream_id, stream_version, coalesce(org_id::text, ''), event_type, schema_version, data, metadata, recorded_at`

// typedSelect reads only the events of the subscriber's types, and, when
// they are fewer than a batch, the last visible event as well: the handler
// passes that one over, and acknowledging it moves the offset to the end of
// what was visible, so the next read does not walk the same events of
// other types again. A reaction to a few types (a saga, the mail sender)
// then neither ships nor decodes every event of a busy log.
func (s WatermillSchema) typedSelect(next wsql.Query, batch int) wsql.Query {
	n := strconv.Itoa(batch)
	types := "$" + strconv.Itoa(len(next.Args)+1)
	q := `
WITH last_processed AS (` + next.Query + `),
horizon AS MATERIALIZED (` + visibleHorizon + `),
wanted AS (
	SELECT ` + messageColumns + ` FROM events
	WHERE ` + afterOffset + `
	  AND transaction_id < (SELECT * FROM horizon) AND event_type = ANY(` + types + `::text[])
	ORDER BY transaction_id, position LIMIT ` + n + `),
last AS (
	SELECT ` + messageColumns + ` FROM events
	WHERE ` + afterOffset + `
	  AND transaction_id < (SELECT * FROM horizon)
	ORDER BY transaction_id DESC, position DESC LIMIT 1)
SELECT * FROM (
	SELECT * FROM wanted
	UNION ALL
	SELECT * FROM last WHERE (SELECT count(*) FROM wanted) < ` + n + ` AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.position = last.position)
) b ORDER BY transaction_id, position`
	return wsql.Query{Query: q, Args: append(append([]any{}, next.Args...), s.Types)}
}

// tellsAlignment is whether the subscriber reads with membersSelect, whose
// rows have one more column (a typed read reads as any other).
func (s WatermillSchema) tellsAlignment() bool { return len(s.members) > 0 && len(s.Types) == 0 }

// membersSelect reads as the plain select does from the earliest of the
// members' offsets (memberOffsets.NextOffsetQuery), and tells on each row
// whether the members' offsets, as locked by this read, were all equal:
// a handler would otherwise read them again, one more statement for each
// delivery, only to find that none is ahead (they differ after a rebuild
// of one read model, until the others pass it).
func (s WatermillSchema) membersSelect(batch int) wsql.Query {
	q := `
WITH m AS MATERIALIZED (` + lockMembers + `),
last_processed AS (SELECT offset_acked, last_processed_transaction_id FROM m ` + earliestMember + `)
SELECT ` + messageColumns + `,
	(SELECT count(*) FROM (SELECT DISTINCT offset_acked, last_processed_transaction_id FROM m) d) = 1
FROM events
WHERE ` + afterOffset + `
  AND transaction_id < (` + visibleHorizon + `)
ORDER BY transaction_id, position
LIMIT ` + strconv.Itoa(batch)
	return wsql.Query{Query: q, Args: []any{s.members}}
}

// SubscriberApplicationName marks the connections of event subscribers, so
// that their delivery transactions do not hold back what other subscribers
// may read (see visibleHorizon).
const SubscriberApplicationName = "gatehouse-subscriber"

// visibleHorizon is the transaction id below which every event that will
// ever commit has committed, as seen by the query's snapshot: the oldest
// transaction still running, or the snapshot's xmax when none is. Events
// are read only below it, so an event committed late by an older
// transaction is never skipped.
//
// watermill-sql's own rule takes the oldest of all running transactions
// (pg_snapshot_xmin). That couples every subscriber to every other one: a
// delivery transaction holds an xid from its first locked offset row to its
// commit (a mail reaction talking to an SMTP server, a read model applying
// 500 events), and nothing appended meanwhile is visible to anyone until
// it ends. Subscribers never append events, so their transactions are left
// out: they are the running xids that pg_stat_activity shows on a
// subscriber connection. So are the transactions of other databases on the
// same server (transaction ids are the server's, not the database's): a
// session writes only to the database it is connected to, and a long one
// elsewhere (a dump, a report, another application) held every reader of
// this log back. A transaction that ended between the snapshot and the
// lookup is simply not left out (the conservative side).
const visibleHorizon = `WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s)
SELECT coalesce(
  (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) x
   WHERE xid(x) <> ALL (SELECT backend_xid FROM pg_stat_activity
                        WHERE (application_name = '` + SubscriberApplicationName + `' OR datname IS DISTINCT FROM current_database())
                          AND backend_xid IS NOT NULL)),
  (SELECT pg_snapshot_xmax(s) FROM snap))`

func (s WatermillSchema) UnmarshalMessage(params wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var (
		position, version, schemaVersion int64
		xid                              wsql.XID8
		id                               uuid.UUID
		stream, org, typ                 string
		data, meta                       []byte
		recorded                         time.Time
		aligned                          bool
	)
	dest := []any{&position, &xid, &id, &stream, &version, &org, &typ, &schemaVersion, &data, &meta, &recorded}
	if s.tellsAlignment() {
		dest = append(dest, &aligned)
	}
	if err := params.Row.Scan(dest...); err != nil {
		return wsql.Row{}, fmt.Errorf("scan event row: %w", err)
	}
	if s.read != nil {
		s.read.Add(1)
	}
	if id, keyed := keyOf(stream); keyed && s.keys != nil && bytes.Contains(data, []byte(sealedMarker)) {
		s.keys.hint(id)
	}
	msg := message.NewMessage(id.String(), data)
	msg.Metadata.Set(MetaPosition, strconv.FormatInt(position, 10))
	msg.Metadata.Set(MetaTransactionID, strconv.FormatUint(uint64(xid), 10))
	msg.Metadata.Set(MetaStreamID, stream)
	msg.Metadata.Set(MetaStreamVersion, strconv.FormatInt(version, 10))
	msg.Metadata.Set(MetaOrgID, org)
	msg.Metadata.Set(MetaEventType, typ)
	msg.Metadata.Set(MetaSchemaVersion, strconv.FormatInt(schemaVersion, 10))
	msg.Metadata.Set(MetaRecordedAt, recorded.UTC().Format(time.RFC3339Nano))
	msg.Metadata.Set(MetaEvent, string(meta))
	if aligned {
		msg.Metadata.Set(MetaMembersAligned, "true")
	}
	return wsql.Row{
		Offset:    position,
		UUID:      []byte(id.String()),
		Payload:   data,
		Metadata:  meta,
		Msg:       msg,
		ExtraData: map[string]any{"transaction_id": xid},
	}, nil
}

// EventFromMessage turns a message delivered from the events topic back
// into the stored event.
func EventFromMessage(msg *message.Message) (RecordedEvent, error) {
	var e RecordedEvent
	var err error
	md := msg.Metadata
	if e.Position, err = strconv.ParseInt(md.Get(MetaPosition), 10, 64); err != nil {
		return e, fmt.Errorf("message %s: position: %w", msg.UUID, err)
	}
	if e.TransactionID, err = strconv.ParseUint(md.Get(MetaTransactionID), 10, 64); err != nil {
		return e, fmt.Errorf("message %s: transaction id: %w", msg.UUID, err)
	}
	if e.ID, err = uuid.Parse(msg.UUID); err != nil {
		return e, fmt.Errorf("message %s: event id: %w", msg.UUID, err)
	}
	if e.StreamVersion, err = strconv.Atoi(md.Get(MetaStreamVersion)); err != nil {
		return e, fmt.Errorf("message %s: stream version: %w", msg.UUID, err)
	}
	if e.SchemaVersion, err = strconv.Atoi(md.Get(MetaSchemaVersion)); err != nil {
		return e, fmt.Errorf("message %s: schema version: %w", msg.UUID, err)
	}
	if e.RecordedAt, err = time.Parse(time.RFC3339Nano, md.Get(MetaRecordedAt)); err != nil {
		return e, fmt.Errorf("message %s: recorded at: %w", msg.UUID, err)
	}
	if err := json.Unmarshal([]byte(md.Get(MetaEvent)), &e.Metadata); err != nil {
		return e, fmt.Errorf("message %s: metadata: %w", msg.UUID, err)
	}
	e.StreamID, e.OrgID, e.Type = md.Get(MetaStreamID), md.Get(MetaOrgID), md.Get(MetaEventType)
	e.Data = json.RawMessage(msg.Payload)
	e.Stored = e.Data
	e.RawMetadata = []byte(md.Get(MetaEvent))
	return e, nil
}

// memberOffsets keeps the offsets of several consumer groups that one
// subscriber feeds together (the read models of a process): it reads from
// the earliest of them and moves each one that is behind to the last
// delivered event, in the delivery transaction. Each member keeps its own
// row, so positions, readiness and a rebuild of one read model (which
// moves only its row, under the row's lock) work as for a group of its
// own. A member ahead of the earliest sees events again that it already
// applied; projections are idempotent, so that is harmless.
type memberOffsets struct {
	members []string
}

func (a memberOffsets) SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil // created by migrations
}

func (a memberOffsets) BeforeSubscribingQueries(wsql.BeforeSubscribingQueriesParams) ([]wsql.Query, error) {
	// Zero rows for new members: FOR UPDATE needs a row to lock.
	return []wsql.Query{{
		Query: `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
			SELECT g, 0, '0' FROM unnest($1::text[]) g ON CONFLICT DO NOTHING`,
		Args: []any{a.members},
	}}, nil
}

// lockMembers locks every member's offset row ($1: the members), in one
// order, so that two processes or a rebuild never deadlock on them.
const lockMembers = `SELECT offset_acked, last_processed_transaction_id FROM watermill_offsets_events
	WHERE consumer_group = ANY($1::text[]) ORDER BY consumer_group FOR UPDATE`

// earliestMember orders the locked offsets (m) and keeps the earliest.
const earliestMember = `ORDER BY last_processed_transaction_id, offset_acked LIMIT 1`

func (a memberOffsets) NextOffsetQuery(wsql.NextOffsetQueryParams) (wsql.Query, error) {
	return wsql.Query{Query: `SELECT offset_acked, last_processed_transaction_id FROM (` + lockMembers + `) m ` + earliestMember, Args: []any{a.members}}, nil
}

func (a memberOffsets) AckMessageQuery(params wsql.AckMessageQueryParams) (wsql.Query, error) {
	xid, ok := params.LastRow.ExtraData["transaction_id"].(wsql.XID8)
	if !ok {
		return wsql.Query{}, fmt.Errorf("event row %d carries no transaction id", params.LastRow.Offset)
	}
	return wsql.Query{
		Query: `UPDATE watermill_offsets_events SET offset_acked = $1, last_processed_transaction_id = $2::text::xid8
			WHERE consumer_group = ANY($3::text[]) AND (last_processed_transaction_id, offset_acked) < ($2::text::xid8, $1)`,
		Args: []any{params.LastRow.Offset, strconv.FormatUint(uint64(xid), 10), a.members},
	}, nil
}

func (a memberOffsets) ConsumedMessageQuery(wsql.ConsumedMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{}, nil
}

// SubscriberConfig tunes a subscriber of the events topic.
type SubscriberConfig struct {
	// ConsumerGroup names the subscriber's offset; one per read model or saga.
	ConsumerGroup string
	// Members, when set, are consumer groups this subscriber feeds
	// together: it reads from the earliest of their offsets and moves them
	// all (see memberOffsets). ConsumerGroup then only names it in logs.
	Members []string
	// BatchSize is how many events one transaction delivers (default 500).
	BatchSize int
	// FallbackPoll bounds how long an idle subscriber waits without a
	// notification (default 250ms).
	FallbackPoll time.Duration
	// Coalesce is how long a woken subscriber waits before reading, so
	// that commits arriving together are read as one batch (default 3ms;
	// reactions, which nobody waits for, can afford more and poll less).
	Coalesce time.Duration
	// Wakeup, when set, wakes the subscriber as soon as an append commits.
	Wakeup *Wakeup
	// Pipelined makes handlers write through a PipelinedTx (found with
	// DeliveryTx): their statements are sent in batches, not one by one.
	Pipelined bool
	// Types, when set, are the event types the handler acts on: only those
	// are read, plus the last visible event of a read (see typedSelect),
	// which the handler must pass over like any other type it ignores.
	Types []string
}

// DeliveryTx is the transaction a pipelined subscriber delivered the
// message in, for handlers to write through.
func DeliveryTx(tx wsql.Tx) (*PipelinedTx, bool) {
	d, ok := tx.(*deliveryTx)
	if !ok {
		return nil, false
	}
	return d.Pipelined(), true
}

// NewSubscriber returns a watermill-sql subscriber of the events topic. Its
// handlers find the delivery transaction with wsql.TxFromContext; rows they
// write there commit together with the consumer group's offset.
func (s *Store) NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.FallbackPoll <= 0 {
		cfg.FallbackPoll = 250 * time.Millisecond
	}
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = 3 * time.Millisecond
	}
	done := make(chan struct{})
	release := func() {}
	var backoff wsql.BackoffManager
	schema := WatermillSchema{BatchSize: cfg.BatchSize, Types: cfg.Types, read: &atomic.Int64{}, keys: &s.keys}
	if cfg.Wakeup != nil {
		full := func() bool { return schema.read.Load() >= int64(cfg.BatchSize) }
		backoff, release = cfg.Wakeup.BackoffManager(cfg.FallbackPoll, cfg.Coalesce, time.Second, full, done, cfg.Types...)
	}
	ackDeadline := time.Duration(0) // handlers are bounded by their own context
	pool, err := s.subscriberPool()
	if err != nil {
		return nil, fmt.Errorf("create subscriber %s: %w", cfg.ConsumerGroup, err)
	}
	var offsets wsql.OffsetsAdapter = wsql.DefaultPostgreSQLOffsetsAdapter{}
	if len(cfg.Members) > 0 {
		offsets = memberOffsets{members: cfg.Members}
		schema.members = cfg.Members
	}
	beginner := wsql.BeginnerFromPgx(lazyPool{pool})
	if cfg.Pipelined {
		beginner = pipelinedBeginner{wsql.PgxBeginner{Conn: lazyPool{pool}}}
	}
	sub, err := wsql.NewSubscriber(beginner, wsql.SubscriberConfig{
		ConsumerGroup:  cfg.ConsumerGroup,
		PollInterval:   cfg.FallbackPoll,
		ResendInterval: 50 * time.Millisecond,
		RetryInterval:  time.Second,
		AckDeadline:    &ackDeadline,
		BackoffManager: backoff,
		SchemaAdapter:  schema,
		OffsetsAdapter: offsets,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("create subscriber %s: %w", cfg.ConsumerGroup, err)
	}
	return &closingSubscriber{Subscriber: sub, done: done, release: release}, nil
}

// closingSubscriber makes Close safe for exactly-once handlers.
// watermill-sql's subscriber, when closed, stops waiting for the ack of the
// message in flight and commits its delivery transaction at once, while the
// handler may still be writing through that transaction. Here Close first
// stops forwarding, waits for the message in flight to be acked or nacked,
// and only then closes the inner subscriber; a message the inner subscriber
// delivers meanwhile is never handed to a handler, and its offset is not
// committed, so it is delivered again after restart.
type closingSubscriber struct {
	*wsql.Subscriber
	done    chan struct{}
	once    sync.Once
	release func()
	// inFlight is held while a message is out with a handler.
	inFlight sync.Mutex
}

func (c *closingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	// The inner subscriber must not see ctx end on its own: it would end its
	// transaction under a running handler.
	in, err := c.Subscriber.Subscribe(context.WithoutCancel(ctx), topic)
	if err != nil {
		return nil, err
	}
	// An ended ctx stops this subscriber in order, as Close does. The
	// router does close its subscribers when it is closed, but only when
	// it notices the close before its own context ends, which it cancels
	// at once; losing that race (a stop soon after the start), or a router
	// left to its context (SIGTERM in `gatehouse relay`), left the
	// subscriber, and so the router, running on.
	context.AfterFunc(ctx, func() { _ = c.Close() })
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			c.inFlight.Lock()
			// done is checked first: once Close has passed the lock, no
			// message may be handed out any more (a select with both
			// cases ready would pick one at random).
			select {
			case <-c.done: // closing: drain without handing out
			default:
				select {
				case <-c.done:
				case out <- msg:
					select { // a handler always acks or nacks, also when the router closes
					case <-msg.Acked():
					case <-msg.Nacked():
					}
				}
			}
			c.inFlight.Unlock()
		}
	}()
	return out, nil
}

func (c *closingSubscriber) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.release()
		c.inFlight.Lock() // waits for the message in flight, if any
		c.inFlight.Unlock()
	})
	return c.Subscriber.Close()
}

// StartAtHead gives a new consumer group its first offset at the head of
// the log, so that a reaction deployed on an existing history reacts only
// to what happens from now on (a new read model starts from the
// beginning instead). A group that has an offset keeps it. The head is
// taken below the snapshot's xmin, so a transaction still open is not
// skipped.
func (s *Store) StartAtHead(ctx context.Context, group string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT $1, coalesce(h.position, 0), coalesce(h.transaction_id, '0'::xid8)
		FROM (SELECT 1) one LEFT JOIN LATERAL (
			SELECT position, transaction_id FROM events
			WHERE transaction_id < (`+visibleHorizon+`)
			ORDER BY transaction_id DESC, position DESC LIMIT 1) h ON true
		ON CONFLICT (consumer_group) DO NOTHING`, group)
	if err != nil {
		return fmt.Errorf("start %s at the head: %w", group, err)
	}
	return nil
}

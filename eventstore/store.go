// Package eventstore owns the PostgreSQL event log: appending events to
// streams with optimistic concurrency, reading streams, reading the whole log
// in commit order, and serving the log to Watermill subscribers.
//
// Publication: the events table itself is the Watermill topic. Instead of a
// watermill-sql Publisher writing a second copy of every event into a
// watermill_* table, WatermillSchema is a custom watermill-sql SchemaAdapter
// whose SelectQuery reads the events table. Appending is therefore one write
// per event, and "stored" and "published" are the same row in the same
// transaction: nothing can be published that was not stored, and nothing
// stored can stay unpublished.
//
// Commit order: positions come from an identity column, handed out before
// commit, so a later position can commit before an earlier one. Readers
// order by (writing transaction id, position) and only read rows whose
// transaction id is below pg_snapshot_xmin of their snapshot, the rule
// watermill-sql uses, so nothing is skipped when transactions commit out of
// order. The rule is refined to ignore the transactions of subscribers,
// which never append, and those of other databases on the server
// (visibleHorizon in watermill.go).
//
// This package knows nothing of the domain; it must not import domain,
// commands, projections or http.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the LISTEN/NOTIFY channel appends are announced on once
// they have committed (see announcer.go), so subscribers wake up without
// polling.
const NotifyChannel = "gatehouse_events"

// Metadata travels with every event: who did it, why, and how it relates to
// other messages.
type Metadata struct {
	OrgID         string            `json:"org_id,omitempty"`
	ActorKind     string            `json:"actor_kind,omitempty"`
	ActorID       string            `json:"actor_id,omitempty"`
	ActorName     string            `json:"actor_name,omitempty"`
	Trigger       string            `json:"trigger,omitempty"`
	CorrelationID string            `json:"correlation_id,omitempty"`
	CausationID   string            `json:"causation_id,omitempty"`
	RequestID     string            `json:"request_id,omitempty"`
	Extra         map[string]string `json:"extra,omitempty"`
}

// NewEvent is an event about to be appended.
type NewEvent struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	Position      int64
	TransactionID uint64
	ID            uuid.UUID
	StreamID      string
	StreamVersion int
	OrgID         string
	Type          string
	SchemaVersion int
	// Data is the event's data with its personal fields revealed (or
	// erased); Stored is the data as stored, with them sealed.
	Data     json.RawMessage
	Stored   json.RawMessage
	Metadata Metadata
	// RawMetadata is the metadata as stored (for hashing).
	RawMetadata []byte
	RecordedAt  time.Time
}

// Statement is extra SQL that must commit or fail together with an append:
// a reservation row for a set rule across streams, a secret lookup row, an
// idempotency record. A unique violation raised by it fails the append with
// OnUniqueViolation (when set) instead of a raw database error.
type Statement struct {
	SQL               string
	Args              []any
	OnUniqueViolation error
	// row is set by InsertRow: a group commit writes the rows of several
	// appends into one table as multi-row inserts (see merged.go).
	row *rowInsert
	// check is set by StreamUnchanged: it writes nothing, so identical
	// checks of several appends in a group run once.
	check bool
}

// rowInsert is a one-row INSERT by table and columns.
type rowInsert struct {
	table   string
	columns string
}

// InsertRow is a statement inserting one row: columns (comma-separated)
// of table, with values in their order. Plain inserts are the reservation
// and lookup rows most appends carry; written this way, a group commit
// writes those of all its appends in one statement per table.
func InsertRow(table, columns string, values ...any) Statement {
	row := rowInsert{table: table, columns: columns}
	return Statement{SQL: row.sql(1, len(values)), Args: values, row: &row}
}

// sql is the insert of rows rows of width values each, numbered in order.
func (r rowInsert) sql(rows, width int) string {
	var sql strings.Builder
	fmt.Fprintf(&sql, "INSERT INTO %s (%s) VALUES ", r.table, r.columns)
	for row := range rows {
		if row > 0 {
			sql.WriteByte(',')
		}
		sql.WriteByte('(')
		for i := 1; i <= width; i++ {
			if i > 1 {
				sql.WriteByte(',')
			}
			sql.WriteByte('$')
			sql.WriteString(strconv.Itoa(row*width + i))
		}
		sql.WriteByte(')')
	}
	return sql.String()
}

// AppendRequest appends Events to Stream, which must be at ExpectedVersion
// (0 for a new stream).
type AppendRequest struct {
	Stream          string
	OrgID           string
	ExpectedVersion int
	Events          []NewEvent
	Statements      []Statement
	// prepared holds the encoded events once Append has checked them.
	prepared *preparedAppend
	// RecordedAt is the events' time as the writer's clock saw it (so that
	// the writer's answer and the log agree); the database's now() when zero.
	RecordedAt time.Time
}

// AppendResult says where the events landed.
type AppendResult struct {
	FirstPosition int64
	LastPosition  int64
	// Version is the stream's version after the append.
	Version int
	// Duplicate is true when every event id was already stored: the append
	// was a retry and stored nothing new.
	Duplicate bool
}

// ErrConcurrencyConflict is returned when the stream is not at the expected
// version any more.
var ErrConcurrencyConflict = errors.New("stream changed concurrently")

// ErrDuplicateEventID is returned when some, but not all, event ids of an
// append are stored already, or stored in another stream.
var ErrDuplicateEventID = errors.New("event id already stored elsewhere")

// ErrStreamMoved is returned when a stream the append was decided on (see
// StreamUnchanged) got events past the version the decision saw.
var ErrStreamMoved = errors.New("a stream the decision read has moved on")

// streamMovedCode is the SQLSTATE gatehouse_stream_unchanged raises.
const streamMovedCode = "GH001"

// StreamUnchanged is a statement that fails its append with ErrStreamMoved
// when stream has events past version. A writer that decided on an
// aggregate it kept from an earlier read (another stream than the one it
// appends to) adds it instead of reading the stream again: the check costs
// no round trip of its own, and it runs in the append's transaction, where
// it sees what other processes committed since the aggregate was read.
func StreamUnchanged(stream string, version int) Statement {
	return Statement{SQL: `SELECT gatehouse_stream_unchanged($1, $2)`, Args: []any{stream, version}, check: true}
}

// Store is the PostgreSQL event store.
type Store struct {
	pool *pgxpool.Pool

	subOnce sync.Once
	subPool *pgxpool.Pool
	subErr  error

	keys keyring

	// noGroupCommit writes every append in a transaction of its own.
	noGroupCommit bool
	groupOnce     sync.Once
	group         *groupCommitter
	groupStats    groupStats

	announceOnce sync.Once
	announcer    atomic.Pointer[announcer]
}

// New returns a store on pool. Concurrent appends are written together
// (group commit, see groupcommit.go).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// WithoutGroupCommit makes every append a transaction of its own, for
// comparison; call it before the first append.
func (s *Store) WithoutGroupCommit() *Store {
	s.noGroupCommit = true
	return s
}

// subscriberPool is where subscribers run their delivery transactions:
// with synchronous_commit off. A read model's rows and its offset commit
// together, so a crash that loses the last of them loses both, and the
// events are delivered again; nothing else is written there. This spares
// every read model an fsync per batch.
func (s *Store) subscriberPool() (*pgxpool.Pool, error) {
	s.subOnce.Do(func() {
		cfg := s.pool.Config().Copy()
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
		cfg.ConnConfig.RuntimeParams["application_name"] = SubscriberApplicationName
		cfg.MaxConns = 16
		cfg.MinConns = 0
		s.subPool, s.subErr = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	return s.subPool, s.subErr
}

// Close releases the subscribers' connections (the main pool belongs to
// the caller).
func (s *Store) Close() {
	s.stopCommitters()
	s.announceOnce.Do(func() {}) // none starts after this
	if a := s.announcer.Load(); a != nil {
		a.close()
	}
	if s.subPool != nil {
		s.subPool.Close()
	}
}

// announce has what committed so far announced on NotifyChannel, types
// being the event types of the append that committed.
func (s *Store) announce(types []string) {
	s.announceOnce.Do(func() {
		s.announcer.Store(newAnnouncer(func(ctx context.Context, payload string) error {
			pool, err := s.subscriberPool()
			if err != nil {
				return err
			}
			_, err = pool.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, payload)
			return err
		}))
	})
	if a := s.announcer.Load(); a != nil { // nil when the store was closed first
		a.announce(types)
	}
}

// AnnouncementsFailed counts announcements that could not be sent; the
// subscribers they were for found the events at their next poll.
func (s *Store) AnnouncementsFailed() int64 {
	if a := s.announcer.Load(); a != nil {
		return a.failed.Load()
	}
	return 0
}

// Pool is the store's connection pool, for adapters that share it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

const insertEvents = `
INSERT INTO events (event_id, stream_id, stream_version, org_id, event_type, schema_version, data, metadata, recorded_at)
SELECT e.id, $1, $2 + e.ord, $3, e.type, e.sv, e.data, e.meta, coalesce($9, now())
FROM unnest($4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[]) WITH ORDINALITY AS e(id, type, sv, data, meta, ord)
ORDER BY e.ord
RETURNING position`

// Append stores the events and runs the request's statements in one
// transaction, sent to the server in one round trip (a pgx batch runs as an
// implicit transaction). Subscribers are woken by a NOTIFY sent after the
// commit (see announcer.go).
func (s *Store) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	if len(req.Events) == 0 {
		return AppendResult{Version: req.ExpectedVersion}, nil
	}
	if err := prepareAppend(&req); err != nil {
		return AppendResult{}, err
	}
	if s.noGroupCommit { // every append a transaction of its own, concurrently
		return s.appendAlone(ctx, req, announceAfterCommit)
	}
	return s.grouped(ctx, req)
}

// How an append alone wakes the subscribers (see announcer.go).
type wakeSubscribers bool

const (
	// notifyInTransaction: nothing else is being written here, so there is
	// no commit to hold back, and the NOTIFY costs no round trip.
	notifyInTransaction wakeSubscribers = true
	// announceAfterCommit: other appends are being written meanwhile.
	announceAfterCommit wakeSubscribers = false
)

// appendAlone writes one append in a transaction of its own and explains
// a refused insert (a retry that is stored already, or a conflict).
func (s *Store) appendAlone(ctx context.Context, req AppendRequest, wake wakeSubscribers) (AppendResult, error) {
	b := &pgx.Batch{}
	queueAppend(b, req)
	types := eventTypes(req.Events)
	if wake == notifyInTransaction {
		b.Queue(`SELECT pg_notify($1, $2)`, NotifyChannel, typesPayload(types))
	}
	res, err := s.sendAppend(ctx, b, req, wake == notifyInTransaction)
	if err == nil {
		if wake == announceAfterCommit {
			s.announce(types)
		}
		return res, nil
	}
	if !errors.Is(err, errEventsNotInserted) {
		return AppendResult{}, err
	}
	return s.retryResult(ctx, req, err)
}

var errEventsNotInserted = errors.New("events not inserted")

type eventsInsertError struct {
	constraint string
	err        error
}

func (e *eventsInsertError) Error() string { return e.err.Error() }
func (e *eventsInsertError) Unwrap() []error {
	return []error{errEventsNotInserted, e.err}
}

// prepareAppend encodes what the insert needs once, so that a queued
// append can no longer fail to encode.
func prepareAppend(req *AppendRequest) error {
	n := len(req.Events)
	p := &preparedAppend{
		ids: make([]pgtype.UUID, n), types: make([]string, n), versions: make([]int32, n),
		data: make([]json.RawMessage, n), meta: make([]json.RawMessage, n),
	}
	for i, e := range req.Events {
		p.ids[i], p.types[i], p.versions[i], p.data[i] = pgtype.UUID{Bytes: e.ID, Valid: true}, e.Type, int32(max(e.SchemaVersion, 1)), e.Data
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return fmt.Errorf("encode metadata of %s: %w", e.Type, err)
		}
		p.meta[i] = m
	}
	if req.OrgID != "" {
		p.org = req.OrgID
	}
	if !req.RecordedAt.IsZero() {
		p.recorded = req.RecordedAt
	}
	req.prepared = p
	return nil
}

// preparedAppend is an append's events as the insert's arguments.
type preparedAppend struct {
	// ids are pgtype.UUIDs: a uuid.UUID reaches pgx as a string (its
	// driver.Valuer), which a binary uuid array cannot take, and the
	// failed attempt before the text fallback was most of the encoding.
	ids           []pgtype.UUID
	types         []string
	versions      []int32
	data, meta    []json.RawMessage
	org, recorded any
}

// queueAppend queues the events' insert and the request's statements.
func queueAppend(b *pgx.Batch, req AppendRequest) {
	p := req.prepared
	b.Queue(insertEvents, req.Stream, req.ExpectedVersion, p.org, p.ids, p.types, p.versions, p.data, p.meta, p.recorded)
	for _, st := range req.Statements {
		b.Queue(st.SQL, st.Args...)
	}
}

func (s *Store) sendAppend(ctx context.Context, batch *pgx.Batch, req AppendRequest, notified bool) (res AppendResult, err error) {
	br := s.pool.SendBatch(ctx, batch)
	defer func() {
		if cerr := br.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("append to %s: commit: %w", req.Stream, cerr)
		}
	}()
	rows, err := br.Query()
	var positions []int64
	if err == nil {
		positions, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "23503") {
			return res, &eventsInsertError{constraint: pgErr.ConstraintName, err: err}
		}
		return res, fmt.Errorf("append to %s: %w", req.Stream, err)
	}
	for _, st := range req.Statements {
		if _, err := br.Exec(); err != nil {
			var pgErr *pgconn.PgError
			if st.OnUniqueViolation != nil && errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return res, st.OnUniqueViolation
			}
			if errors.As(err, &pgErr) && pgErr.Code == streamMovedCode {
				return res, fmt.Errorf("append to %s: %s: %w", req.Stream, pgErr.Message, ErrStreamMoved)
			}
			return res, fmt.Errorf("append to %s: statement: %w", req.Stream, err)
		}
	}
	if notified {
		if _, err := br.Exec(); err != nil {
			return res, fmt.Errorf("append to %s: notify: %w", req.Stream, err)
		}
	}
	return AppendResult{
		FirstPosition: positions[0],
		LastPosition:  positions[len(positions)-1],
		Version:       req.ExpectedVersion + len(req.Events),
	}, nil
}

// retryResult decides what a refused insert means: a retry of an append
// that is already stored (success, nothing new), or a real conflict.
func (s *Store) retryResult(ctx context.Context, req AppendRequest, insertErr error) (AppendResult, error) {
	ids := make([]uuid.UUID, len(req.Events))
	for i, e := range req.Events {
		ids[i] = e.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT position, stream_id, stream_version FROM events WHERE event_id = ANY($1) ORDER BY stream_version`, ids)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: check for retried events: %w", req.Stream, err)
	}
	type stored struct {
		Position int64
		Stream   string
		Version  int
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
		var s stored
		err := r.Scan(&s.Position, &s.Stream, &s.Version)
		return s, err
	})
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: check for retried events: %w", req.Stream, err)
	}
	if len(found) == 0 {
		var ie *eventsInsertError
		if errors.As(insertErr, &ie) && ie.constraint == "events_event_id_key" {
			return AppendResult{}, fmt.Errorf("append to %s: %w", req.Stream, ErrDuplicateEventID)
		}
		return AppendResult{}, fmt.Errorf("append to %s at version %d: %w", req.Stream, req.ExpectedVersion, ErrConcurrencyConflict)
	}
	if len(found) != len(ids) {
		return AppendResult{}, fmt.Errorf("append to %s: %d of %d events stored before: %w", req.Stream, len(found), len(ids), ErrDuplicateEventID)
	}
	for _, f := range found {
		if f.Stream != req.Stream {
			return AppendResult{}, fmt.Errorf("append to %s: event stored in %s: %w", req.Stream, f.Stream, ErrDuplicateEventID)
		}
	}
	return AppendResult{
		FirstPosition: found[0].Position,
		LastPosition:  found[len(found)-1].Position,
		Version:       found[len(found)-1].Version,
		Duplicate:     true,
	}, nil
}

const eventColumns = `position, transaction_id::text::bigint AS xid, event_id, stream_id, stream_version, coalesce(org_id::text, ''), event_type, schema_version, data, metadata, recorded_at`

func scanEvent(row pgx.Row) (RecordedEvent, error) {
	var e RecordedEvent
	var xid int64
	var meta []byte
	err := row.Scan(&e.Position, &xid, &e.ID, &e.StreamID, &e.StreamVersion, &e.OrgID, &e.Type, &e.SchemaVersion, &e.Data, &meta, &e.RecordedAt)
	if err != nil {
		return e, err
	}
	e.TransactionID, e.RawMetadata, e.Stored = uint64(xid), meta, e.Data
	if err := json.Unmarshal(meta, &e.Metadata); err != nil {
		return e, fmt.Errorf("decode metadata of event %d: %w", e.Position, err)
	}
	return e, nil
}

func collectEvents(rows pgx.Rows) ([]RecordedEvent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecordedEvent, error) { return scanEvent(r) })
}

// ReadStream returns the events of stream with a version above afterVersion,
// oldest first.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int) ([]RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, readStreamSQL, stream, afterVersion)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	events, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return events, s.Reveal(ctx, events)
}

// StreamTail names the events of a stream after a version.
type StreamTail struct {
	Stream       string
	AfterVersion int
}

// ReadStreams reads the tails of several streams in one round trip, in the
// order given (a command that needs its company and its organization waits
// for one round trip, not two). Each is ReadStream's own statement, sent
// together in a batch: one statement with stream_id = ANY($1) got a cached
// generic plan that scanned the whole log once it had grown.
func (s *Store) ReadStreams(ctx context.Context, reads ...StreamTail) ([][]RecordedEvent, error) {
	batch := &pgx.Batch{}
	for _, r := range reads {
		batch.Queue(readStreamSQL, r.Stream, r.AfterVersion)
	}
	results := s.pool.SendBatch(ctx, batch)
	out := make([][]RecordedEvent, len(reads))
	var all []RecordedEvent
	for i, r := range reads {
		rows, err := results.Query()
		if err != nil {
			results.Close()
			return nil, fmt.Errorf("read stream %s: %w", r.Stream, err)
		}
		if out[i], err = collectEvents(rows); err != nil {
			results.Close()
			return nil, fmt.Errorf("read stream %s: %w", r.Stream, err)
		}
		all = append(all, out[i]...)
	}
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("read streams: %w", err)
	}
	if err := s.Reveal(ctx, all); err != nil {
		return nil, err
	}
	// Reveal worked on the copies in all; the answer is read back from it.
	for i, n := 0, 0; i < len(out); i++ {
		out[i] = all[n : n+len(out[i])]
		n += len(out[i])
	}
	return out, nil
}

const readStreamSQL = `SELECT ` + eventColumns + ` FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version`

// Cursor is a place in the commit-ordered log: everything up to and
// including the event at (TransactionID, Position) has been read. The zero
// Cursor is the beginning.
type Cursor struct {
	TransactionID uint64
	Position      int64
}

// After returns the cursor just past e.
func After(e RecordedEvent) Cursor {
	return Cursor{TransactionID: e.TransactionID, Position: e.Position}
}

// CursorAt returns the cursor just past the event at position, so that
// clients can page through the log by position alone.
func (s *Store) CursorAt(ctx context.Context, position int64) (Cursor, error) {
	if position <= 0 {
		return Cursor{}, nil
	}
	var xid int64
	err := s.pool.QueryRow(ctx, `SELECT transaction_id::text::bigint FROM events WHERE position = $1`, position).Scan(&xid)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, fmt.Errorf("no event at position %d: %w", position, ErrUnknownPosition)
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("find event at position %d: %w", position, err)
	}
	return Cursor{TransactionID: uint64(xid), Position: position}, nil
}

// HeadCursor is the cursor just past the last event a reader may see now
// (below the oldest running transaction, the rule every reader follows).
func (s *Store) HeadCursor(ctx context.Context) (Cursor, error) {
	var c Cursor
	var xid int64
	err := s.pool.QueryRow(ctx, `SELECT transaction_id::text::bigint, position FROM events
		WHERE transaction_id < (`+visibleHorizon+`)
		ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&xid, &c.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, nil
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("find the head of the log: %w", err)
	}
	c.TransactionID = uint64(xid)
	return c, nil
}

// Later is the later of two cursors in commit order.
// Covers reports whether the log up to c includes e.
func (c Cursor) Covers(e RecordedEvent) bool {
	return e.TransactionID < c.TransactionID || (e.TransactionID == c.TransactionID && e.Position <= c.Position)
}

func Later(a, b Cursor) Cursor {
	if b.TransactionID > a.TransactionID || (b.TransactionID == a.TransactionID && b.Position > a.Position) {
		return b
	}
	return a
}

// ErrUnknownPosition is returned for a cursor position that names no event.
var ErrUnknownPosition = errors.New("unknown position")

// ReadAll returns up to limit events after the cursor in commit order. It
// never returns an event while a transaction that could still commit an
// earlier event is open: it stops below the oldest transaction running when
// its snapshot was taken.
func (s *Store) ReadAll(ctx context.Context, after Cursor, limit int) ([]RecordedEvent, error) {
	return s.readAll(ctx, "", after, limit, nil)
}

// ScanFilter narrows a bulk read of the log for a rebuild.
type ScanFilter struct {
	// StreamPrefix keeps only streams whose id starts with it ("" for all).
	StreamPrefix string
	// OrgID keeps only one organization's events ("" for all).
	OrgID string
	// RawMetadata also reads each event's stored metadata (not decoded).
	RawMetadata bool
	// Settled, when set, is a HeadCursor taken before the scan: every
	// writer of an event up to it had finished when it was taken, so those
	// events are read whatever the visible horizon says at the time of a
	// read. The horizon can move back for an instant (a subscriber
	// transaction that ends between a query's snapshot and its look at
	// pg_stat_activity counts as running), and a rebuild, which hands its
	// consumer group the head, must have read every event the head covers:
	// one it missed would never be applied.
	Settled Cursor
}

// Scan is ReadAll for bulk readers such as rebuilds: it returns the events
// after the cursor that match the filter, without their metadata, and the
// cursor to continue from.
func (s *Store) Scan(ctx context.Context, after Cursor, limit int, f ScanFilter) ([]RecordedEvent, error) {
	meta := `NULL::bytea`
	if f.RawMetadata {
		meta = `metadata`
	}
	q := `SELECT position, transaction_id::text::bigint AS xid, event_id, stream_id, stream_version, coalesce(org_id::text, ''),
		event_type, schema_version, data, ` + meta + `, recorded_at FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2)
		  AND transaction_id < greatest((` + visibleHorizon + `), $4::text::xid8)`
	args := []any{fmt.Sprint(after.TransactionID), after.Position, limit, fmt.Sprint(f.Settled.TransactionID + 1)}
	if f.StreamPrefix != "" {
		args = append(args, f.StreamPrefix+"%")
		q += fmt.Sprintf(` AND stream_id LIKE $%d`, len(args))
	}
	order := ` ORDER BY transaction_id, position LIMIT $3`
	if f.OrgID != "" {
		args = append(args, f.OrgID)
		q += orgRange(len(args))
		order = orgOrder
	}
	q += order
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("scan log after %d: %w", after.Position, err)
	}
	defer rows.Close()
	out := make([]RecordedEvent, 0, limit)
	fast, ok := newScanDecoder(rows.FieldDescriptions())
	for rows.Next() {
		var e RecordedEvent
		if ok {
			if err := fast.decode(rows.RawValues(), &e); err != nil {
				return nil, fmt.Errorf("scan log after %d: %w", after.Position, err)
			}
			out = append(out, e)
			continue
		}
		var xid int64
		var data, rawMeta []byte
		if err := rows.Scan(&e.Position, &xid, &e.ID, &e.StreamID, &e.StreamVersion, &e.OrgID, &e.Type, &e.SchemaVersion, &data, &rawMeta, &e.RecordedAt); err != nil {
			return nil, fmt.Errorf("scan log after %d: %w", after.Position, err)
		}
		e.TransactionID, e.Data, e.Stored, e.RawMetadata = uint64(xid), data, data, rawMeta
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scan log after %d: %w", after.Position, err)
	}
	return out, nil
}

// orgRange bounds a read to one organization's events after the cursor
// ($1 transaction id as text, $2 position; org is parameter n) with two
// row comparisons, both usable as bounds of events_org_commit_order. (An
// org_id = … condition beside the lower bound makes PostgreSQL start the
// scan at the organization's first event.)
func orgRange(n int) string {
	return fmt.Sprintf(` AND (org_id, transaction_id, position) > ($%[1]d, $1::text::xid8, $2)
  AND (org_id, transaction_id, position) <= ($%[1]d, '18446744073709551615'::xid8, 9223372036854775807)`, n)
}

// orgOrder walks one organization's events along events_org_commit_order
// (org_id, transaction_id, position); the leading org_id in both the row
// comparison and the ORDER BY lets the planner use that index as a range.
const orgOrder = ` ORDER BY org_id, transaction_id, position LIMIT $3`

// ReadOrg is ReadAll restricted to one organization's events.
func (s *Store) ReadOrg(ctx context.Context, orgID string, after Cursor, limit int) ([]RecordedEvent, error) {
	return s.readAll(ctx, orgID, after, limit, nil)
}

// ReadOrgTypes is ReadOrg restricted to some event types (all when empty).
func (s *Store) ReadOrgTypes(ctx context.Context, orgID string, after Cursor, limit int, types []string) ([]RecordedEvent, error) {
	return s.readAll(ctx, orgID, after, limit, types)
}

// ReadOrgUntil returns an organization's events recorded at or before
// until, in commit order, for a one-off replay. Unlike ReadAll it reads
// every committed event, not only those below the snapshot's xmin: a
// replay does not keep a cursor that could skip a late commit, and must
// not miss events just because another transaction is open.
func (s *Store) ReadOrgUntil(ctx context.Context, orgID string, after Cursor, limit int, until time.Time) ([]RecordedEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM events
WHERE recorded_at <= $5` + orgRange(4) + orgOrder
	rows, err := s.pool.Query(ctx, q, fmt.Sprint(after.TransactionID), after.Position, limit, orgID, until)
	if err != nil {
		return nil, fmt.Errorf("read log until %s: %w", until, err)
	}
	events, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read log until %s: %w", until, err)
	}
	return events, s.Reveal(ctx, events)
}

// OrgOf returns the organization of the event at position ("" when none).
func (s *Store) OrgOf(ctx context.Context, position int64) (string, error) {
	var org string
	err := s.pool.QueryRow(ctx, `SELECT coalesce(org_id::text, '') FROM events WHERE position = $1`, position).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("organization of event %d: %w", position, err)
	}
	return org, nil
}

func (s *Store) readAll(ctx context.Context, orgID string, after Cursor, limit int, types []string) ([]RecordedEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM events
WHERE (transaction_id, position) > ($1::text::xid8, $2)
  AND transaction_id < (` + visibleHorizon + `)`
	args := []any{fmt.Sprint(after.TransactionID), after.Position, limit}
	order := ` ORDER BY transaction_id, position LIMIT $3`
	if orgID != "" {
		args = append(args, orgID)
		q += orgRange(len(args))
		order = orgOrder
	}
	if len(types) > 0 {
		args = append(args, types)
		q += fmt.Sprintf(` AND event_type = ANY($%d)`, len(args))
	}
	q += order
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read log after %d: %w", after.Position, err)
	}
	events, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read log after %d: %w", after.Position, err)
	}
	return events, s.Reveal(ctx, events)
}

// StreamVersion returns the current version of stream (0 when it has no
// events) provided it belongs to orgID.
func (s *Store) StreamVersion(ctx context.Context, stream string) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, stream).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read version of %s: %w", stream, err)
	}
	return v, nil
}

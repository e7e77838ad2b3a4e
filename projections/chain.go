package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Chain seals each organization's events into a hash chain, following the
// commit order like any read model (consumer group "chain"), so appends
// never serialize on it. Its lag is the sealing lag.
type Chain struct {
	// rule is read from chain_rule on first use: it never changes once the
	// migration that made it has run.
	rule atomic.Pointer[hashRule]
}

// NewChain returns the sealer.
func NewChain() *Chain { return &Chain{} }

// Name is the consumer group.
func (*Chain) Name() string { return "chain" }

// Tables are the sealer's tables. chain_rule is not one of them: a rebuild
// must seal with the rules the events were sealed with.
func (*Chain) Tables() []string { return []string{"event_chain", "chain_heads"} }

// StreamPrefix: every stream is sealed.
func (*Chain) StreamPrefix() string { return "" }

// genesis is the "previous hash" of an organization's first event.
var genesis = make([]byte, sha256.Size)

// hashRule says which rule seals an event: the first before the cut-over
// position v2From, the second from it on (migration 00016). Choosing by
// position makes the sealer, a rebuild and verify agree on every event.
type hashRule struct{ v2From int64 }

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func loadHashRule(ctx context.Context, q rowQuerier) (hashRule, error) {
	var r hashRule
	if err := q.QueryRow(ctx, `SELECT v2_from FROM chain_rule`).Scan(&r.v2From); err != nil {
		return r, fmt.Errorf("chain hash rule: %w", err)
	}
	return r, nil
}

// hashRule returns the rule, reading it with q the first time.
func (c *Chain) hashRule(ctx context.Context, q rowQuerier) (hashRule, error) {
	if r := c.rule.Load(); r != nil {
		return *r, nil
	}
	r, err := loadHashRule(ctx, q)
	if err != nil {
		return r, err
	}
	c.rule.Store(&r)
	return r, nil
}

// hash is the chain link of e: SHA-256 over what appendHashed gives.
func (r hashRule) hash(prev []byte, e eventstore.RecordedEvent) []byte {
	sum := sha256.Sum256(r.appendHashed(nil, prev, e))
	return sum[:]
}

// appendHashed appends to b what the chain hashes for e under its rule.
// Building it in one buffer and hashing it with Sum256 allocates nothing
// when b has room: a whole-log rebuild hashes every event.
func (r hashRule) appendHashed(b, prev []byte, e eventstore.RecordedEvent) []byte {
	if e.Position < r.v2From {
		return appendHashedV1(b, prev, e)
	}
	return appendHashedV2(b, prev, e)
}

// hashV2Tag starts what the second rule hashes, so that no input of one
// rule can be read as an input of the other.
const hashV2Tag = "gatehouse event chain v2\x00"

// appendHashedV2 is the second rule: the previous hash and every column
// of the event as stored, numbers as 8 bytes big-endian and the rest
// length-prefixed: position, id, organization, stream, stream version,
// type, schema version, data and metadata as stored, recorded time.
func appendHashedV2(b, prev []byte, e eventstore.RecordedEvent) []byte {
	in := hashInput(append(b, hashV2Tag...))
	in = in.field(prev).number(e.Position).field(e.ID[:]).text(e.OrgID).text(e.StreamID).
		number(int64(e.StreamVersion)).text(e.Type).number(int64(e.SchemaVersion))
	return in.content(e)
}

// appendHashedV1 is the first rule: the previous hash and the event's id,
// stream, type, data and metadata as stored, and recorded time, each
// length-prefixed, with a fixed placeholder where position, stream version
// and schema version were meant to be.
func appendHashedV1(b, prev []byte, e eventstore.RecordedEvent) []byte {
	// This rule wrote each number into the 8-byte buffer it then wrote the
	// length of into, so what it hashed for a number was the length 8,
	// twice. Chains were sealed that way before the cut-over, so it stays
	// that way here (TestEventHashIsStable).
	const placeholder = 8
	in := hashInput(b).field(prev).
		number(placeholder).number(placeholder). // where the position was meant to be
		field(e.ID[:]).text(e.StreamID).
		number(placeholder).number(placeholder). // stream version
		text(e.Type).
		number(placeholder).number(placeholder) // schema version
	return in.content(e)
}

// hashInput is what a hash rule builds, appended to in place.
type hashInput []byte

func (in hashInput) number(n int64) hashInput { return binary.BigEndian.AppendUint64(in, uint64(n)) }

func (in hashInput) field(f []byte) hashInput { return append(in.number(int64(len(f))), f...) }

func (in hashInput) text(s string) hashInput { return append(in.number(int64(len(s))), s...) }

// content ends both rules: the data and metadata as stored, then the
// recorded time. The data as stored keeps personal fields sealed, so
// erasure keeps the chain.
func (in hashInput) content(e eventstore.RecordedEvent) []byte {
	stored := e.Stored
	if stored == nil {
		stored = e.Data
	}
	var at [len(time.RFC3339Nano) + 8]byte
	return in.field(stored).field(e.RawMetadata).field(e.RecordedAt.UTC().AppendFormat(at[:0], time.RFC3339Nano))
}

// Apply seals one event onto its organization's chain; an event sealed
// before is left as it is.
func (c *Chain) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, _ domain.Event) error {
	if e.OrgID == "" {
		return nil
	}
	rule, err := c.hashRule(ctx, tx)
	if err != nil {
		return err
	}
	// Within a delivery the head is remembered, so a batch reads each
	// organization's head once (the delivery never hands an event sealed
	// before to the chain, see memberOffsets, so the head always moves).
	memo := txMemo(tx)
	head, remembered := memo[chainHeadKey(e.OrgID)].(sealedHead)
	if !remembered {
		head = sealedHead{hash: genesis}
		err = tx.QueryRow(ctx, `SELECT seq, hash FROM chain_heads WHERE org_id = $1 FOR UPDATE`, e.OrgID).Scan(&head.seq, &head.hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("chain head of %s: %w", e.OrgID, err)
		}
	}
	hash := rule.hash(head.hash, e)
	seq := head.seq + 1
	if memo != nil {
		memo[chainHeadKey(e.OrgID)] = sealedHead{seq: seq, hash: hash}
	}
	return writeLater(ctx, tx, chainPending{}, strconv.FormatInt(e.Position, 10), sealRow{org: e.OrgID, seq: seq, position: e.Position, hash: hash}, writeSeals)
}

// chainPending names the seals a delivery left to write at its end.
type chainPending struct{}

type sealRow struct {
	org           string
	seq, position int64
	hash          []byte
}

// sealEvents seals events and moves each organization's head to its last
// new seal, in one statement; an event sealed before (a replay) conflicts
// on its position and changes nothing. The organizations travel as text
// (see unnestInsert).
const sealEvents = `WITH sealed AS (
		INSERT INTO event_chain (org_id, seq, position, hash)
		SELECT o::uuid, s, p, h FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[]) AS r(o, s, p, h)
		ON CONFLICT (position) DO NOTHING RETURNING org_id, seq, position, hash)
	INSERT INTO chain_heads (org_id, seq, position, hash, sealed_at)
	SELECT DISTINCT ON (org_id) org_id, seq, position, hash, now() FROM sealed ORDER BY org_id, seq DESC
	ON CONFLICT (org_id) DO UPDATE SET seq = excluded.seq, position = excluded.position, hash = excluded.hash, sealed_at = excluded.sealed_at`

func writeSeals(ctx context.Context, tx pgx.Tx, rows []sealRow) error {
	orgs, seqs, positions, hashes := make([]string, len(rows)), make([]int64, len(rows)), make([]int64, len(rows)), make([][]byte, len(rows))
	for i, r := range rows {
		orgs[i], seqs[i], positions[i], hashes[i] = r.org, r.seq, r.position, r.hash
	}
	if _, err := tx.Exec(ctx, sealEvents, orgs, seqs, positions, hashes); err != nil {
		return fmt.Errorf("seal %d events from %d: %w", len(rows), rows[0].position, err)
	}
	return nil
}

// chainHeadKey names an organization's chain head in a delivery's memo.
type chainHeadKey string

type sealedHead struct {
	seq  int64
	hash []byte
}

// ChainHead is the latest seal of an organization's chain, which an
// auditor can keep outside the system and check later.
type ChainHead struct {
	Seq      int64     `json:"seq"`
	Position int64     `json:"position"`
	Hash     string    `json:"hash"`
	SealedAt time.Time `json:"sealed_at"`
}

// Head returns org's chain head (zero before the first seal).
func Head(ctx context.Context, pool *pgxpool.Pool, org domain.OrgID) (ChainHead, error) {
	var h ChainHead
	var hash []byte
	err := pool.QueryRow(ctx, `SELECT seq, position, hash, sealed_at FROM chain_heads WHERE org_id = $1`, string(org)).Scan(&h.Seq, &h.Position, &hash, &h.SealedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ChainHead{Hash: hex.EncodeToString(genesis)}, nil
	}
	if err != nil {
		return h, fmt.Errorf("chain head: %w", err)
	}
	h.Hash = hex.EncodeToString(hash)
	return h, nil
}

// ChainProblem is the first place where the log and its chain disagree.
type ChainProblem struct {
	Position int64  `json:"position"`
	Kind     string `json:"kind"` // altered, deleted, inserted, reordered
	Detail   string `json:"detail"`
}

// Verification is the result of re-computing a chain.
type Verification struct {
	OK       bool          `json:"ok"`
	Events   int64         `json:"events"`
	Head     ChainHead     `json:"head"`
	Problem  *ChainProblem `json:"problem"`
	Duration time.Duration `json:"-"`
}

// Verify re-computes org's chain from the events themselves, in commit
// order up to the sealed head, and compares it with the stored seals; it
// names the first event that was altered, deleted or inserted.
func Verify(ctx context.Context, store *eventstore.Store, org domain.OrgID) (Verification, error) {
	start := time.Now()
	pool := store.Pool()
	head, err := Head(ctx, pool, org)
	if err != nil {
		return Verification{}, err
	}
	v := Verification{OK: true, Head: head}
	rule, err := loadHashRule(ctx, pool)
	if err != nil {
		return v, err
	}
	type seal struct {
		seq, position int64
		hash          []byte
	}
	var seals []seal
	nextSeals := func(after int64) error {
		rows, err := pool.Query(ctx, `SELECT seq, position, hash FROM event_chain WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT 10000`, string(org), after)
		if err != nil {
			return fmt.Errorf("read chain: %w", err)
		}
		seals, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (seal, error) {
			var s seal
			err := r.Scan(&s.seq, &s.position, &s.hash)
			return s, err
		})
		return err
	}
	exists := func(q string, position int64) (bool, error) {
		var ok bool
		err := pool.QueryRow(ctx, q, position, string(org)).Scan(&ok)
		return ok, err
	}
	prev := genesis
	var lastSeq int64
	if err := nextSeals(0); err != nil {
		return v, err
	}
	si := 0
	// Events are read one batch ahead of the hashing.
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan []eventstore.RecordedEvent, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		var cursor eventstore.Cursor
		for {
			events, err := store.Scan(readCtx, cursor, 10000, eventstore.ScanFilter{OrgID: string(org), RawMetadata: true})
			if err != nil {
				readErr <- err
				return
			}
			select {
			case batches <- events:
			case <-readCtx.Done():
				return
			}
			if len(events) < 10000 {
				return
			}
			cursor = eventstore.After(events[len(events)-1])
		}
	}()
	for events := range batches {
		for _, e := range events {
			if head.Seq == 0 || (lastSeq >= head.Seq) {
				// Past the head: not sealed yet, or inserted after it.
				if e.Position < head.Position {
					return fail(v, e.Position, "inserted", "an event of this organization that the chain does not hold", start), nil
				}
				v.Duration = time.Since(start)
				return v, nil
			}
			if si == len(seals) {
				if err := nextSeals(lastSeq); err != nil {
					return v, err
				}
				si = 0
				if len(seals) == 0 {
					return fail(v, e.Position, "inserted", "an event of this organization that the chain does not hold", start), nil
				}
			}
			s := seals[si]
			if s.position != e.Position {
				inChain, err := exists(`SELECT EXISTS (SELECT 1 FROM event_chain WHERE position = $1 AND org_id = $2)`, e.Position)
				if err != nil {
					return v, err
				}
				if !inChain {
					return fail(v, e.Position, "inserted", "an event of this organization that the chain does not hold", start), nil
				}
				// An event moved to another organization's log is deleted
				// from this one, and inserted into that one.
				stored, err := exists(`SELECT EXISTS (SELECT 1 FROM events WHERE position = $1 AND org_id = $2)`, s.position)
				if err != nil {
					return v, err
				}
				if !stored {
					return fail(v, s.position, "deleted", "the chain holds an event the log no longer has", start), nil
				}
				return fail(v, s.position, "reordered", "events are not in the order they were sealed", start), nil
			}
			h := rule.hash(prev, e)
			if string(h) != string(s.hash) {
				return fail(v, e.Position, "altered", "the event's content does not match its seal", start), nil
			}
			prev, lastSeq = h, s.seq
			si++
			v.Events++
		}
	}
	select {
	case err := <-readErr:
		return v, err
	default:
	}
	if lastSeq < head.Seq {
		pos := head.Position
		if si < len(seals) {
			pos = seals[si].position
		}
		return fail(v, pos, "deleted", "the chain holds events the log no longer has", start), nil
	}
	v.Duration = time.Since(start)
	return v, nil
}

func fail(v Verification, position int64, kind, detail string, start time.Time) Verification {
	v.OK = false
	v.Problem = &ChainProblem{Position: position, Kind: kind, Detail: detail}
	v.Duration = time.Since(start)
	return v
}

// ScanMetadata: the chain hashes the stored metadata, so a rebuild reads it.
func (*Chain) ScanMetadata() bool { return true }

// prepareFold reads the hash rule for the fold, which has no context of
// its own to read it with.
func (c *Chain) prepareFold(ctx context.Context, conn *pgx.Conn) error {
	_, err := c.hashRule(ctx, conn)
	return err
}

// Fold seals the whole log in memory and writes the chain with COPY.
func (c *Chain) Fold() Fold { return &chainFold{heads: map[string]*chainHead{}, rule: c.rule.Load()} }

type chainHead struct {
	seq, position int64
	hash          []byte
	org           any // the organization's id as COPY writes it, parsed once
}

type chainRow struct {
	head          *chainHead
	seq, position int64
	hash          [sha256.Size]byte
}

type chainFold struct {
	// rule is nil when the fold was made before the rule was read.
	rule  *hashRule
	heads map[string]*chainHead
	// rows has a row per event, kept small as there are as many as events,
	// in chunks: growing one slice of a million rows copied it again and
	// again (a twentieth of a whole-log rebuild's CPU).
	rows [][]chainRow
	// buf is what appendHashed builds for each event, reused.
	buf []byte
}

// chainChunk is how many rows a chunk of chainFold.rows holds.
const chainChunk = 1 << 16

func (f *chainFold) Add(e eventstore.RecordedEvent, _ domain.Event) error {
	if e.OrgID == "" {
		return nil
	}
	if f.rule == nil {
		return errors.New("seal events: the chain's hash rule was not read before the fold")
	}
	h := f.heads[e.OrgID]
	if h == nil {
		h = &chainHead{hash: genesis, org: idArg(e.OrgID)}
		f.heads[e.OrgID] = h
	}
	f.buf = f.rule.appendHashed(f.buf[:0], h.hash, e)
	h.seq++
	h.position = e.Position
	if len(f.rows) == 0 || len(f.rows[len(f.rows)-1]) == chainChunk {
		f.rows = append(f.rows, make([]chainRow, 0, chainChunk))
	}
	last := &f.rows[len(f.rows)-1]
	*last = append(*last, chainRow{head: h, seq: h.seq, position: e.Position, hash: sha256.Sum256(f.buf)})
	// A chunk never grows past its capacity, so the row stays where it
	// is and the head can point at its hash.
	h.hash = (*last)[len(*last)-1].hash[:]
	return nil
}

// copyRows gives the rows of event_chain one by one, in the order they
// were added, for COPY; nil after the last.
func (f *chainFold) copyRows() func() ([]any, error) {
	chunk, i := 0, 0
	return func() ([]any, error) {
		for chunk < len(f.rows) && i == len(f.rows[chunk]) {
			chunk, i = chunk+1, 0
		}
		if chunk == len(f.rows) {
			return nil, nil
		}
		r := &f.rows[chunk][i]
		i++
		return []any{r.head.org, r.seq, r.position, r.hash[:]}, nil
	}
}

func (f *chainFold) Flush(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event_chain"}, []string{"org_id", "seq", "position", "hash"}, pgx.CopyFromFunc(f.copyRows())); err != nil {
		return fmt.Errorf("copy chain: %w", err)
	}
	heads := make([][]any, 0, len(f.heads))
	now := time.Now()
	for org, h := range f.heads {
		heads = append(heads, []any{idArg(org), h.seq, h.position, h.hash, now})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"chain_heads"}, []string{"org_id", "seq", "position", "hash", "sealed_at"}, pgx.CopyFromRows(heads)); err != nil {
		return fmt.Errorf("copy chain heads: %w", err)
	}
	return nil
}

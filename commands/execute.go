package commands

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Meta says who issues a command, why, and how it relates to other messages.
type Meta struct {
	Org            domain.OrgID
	Actor          domain.Actor
	Trigger        domain.Trigger
	RequestID      string
	CorrelationID  string
	CausationID    string
	IdempotencyKey string
	Extra          map[string]string
	// Scope, when set, confines the command to users of one company: a
	// customer's self-service acts only on their own company.
	Scope domain.CompanyID
}

// reaches reports whether a user is within the command's organization and
// scope; anything outside is reported as not found.
func (m Meta) reaches(u *domain.User) bool {
	return u.Exists() && u.OrgID == m.Org && (m.Scope == "" || u.CompanyID == m.Scope)
}

func (m Meta) eventMetadata() eventstore.Metadata {
	return eventstore.Metadata{
		OrgID: string(m.Org), ActorKind: string(m.Actor.Kind), ActorID: m.Actor.ID, ActorName: m.Actor.Name,
		Trigger: string(m.Trigger), CorrelationID: m.CorrelationID, CausationID: m.CausationID,
		RequestID: m.RequestID, Extra: m.Extra,
	}
}

// ErrConflict is returned when a command kept losing races for its stream.
var ErrConflict = &domain.Error{Kind: domain.KindConflict, Code: "concurrent_update", Message: "the resource was changed concurrently too often; try again"}

// ErrIdempotencyKeyReused is returned when a key comes back with another request.
var ErrIdempotencyKeyReused = &domain.Error{Kind: domain.KindInvalid, Code: "idempotency_key_reused", Message: "this Idempotency-Key was used for a different request"}

var errIdempotencyRace = errors.New("idempotency key stored concurrently")

type aggregate interface{ Apply(domain.Event) }

// streamInfo is what a stream says about itself besides its events.
type streamInfo struct {
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// load rebuilds an aggregate from its stream.
func load[A any, PA interface {
	*A
	aggregate
}](ctx context.Context, store *eventstore.Store, stream string) (PA, streamInfo, error) {
	events, err := store.ReadStream(ctx, stream, 0)
	if err != nil {
		return nil, streamInfo{}, err
	}
	return fold[A, PA](stream, events)
}

// fold is an aggregate from its stream's events.
func fold[A any, PA interface {
	*A
	aggregate
}](stream string, events []eventstore.RecordedEvent) (PA, streamInfo, error) {
	var info streamInfo
	agg := PA(new(A))
	for _, re := range events {
		e, err := domain.DecodeEvent(re.Type, re.SchemaVersion, re.Data)
		if err != nil {
			return nil, info, fmt.Errorf("load %s at version %d: %w", stream, re.StreamVersion, err)
		}
		agg.Apply(e)
	}
	if n := len(events); n > 0 {
		info = streamInfo{Version: n, CreatedAt: events[0].RecordedAt, UpdatedAt: events[n-1].RecordedAt}
	}
	return agg, info, nil
}

// change is one command against one stream.
type change[PA any, R any] struct {
	// name names the command in metrics.
	name   string
	stream string
	// subject is the id of the aggregate, for reservation rows.
	subject string
	// request identifies the command for Idempotency-Key checks.
	request any
	// decide returns the events the command produces from the current state.
	decide func(agg PA, version int) ([]domain.Event, error)
	// result builds the answer from the state after the events.
	result func(agg PA, info streamInfo) (R, error)
	// extra are statements to run in the append's transaction.
	extra []eventstore.Statement
	// read, when set, reads what the decision is checked against besides
	// the stream itself (a new user's company), before every attempt. With
	// kept true it may take aggregates this process has seen before without
	// reading them, and returns statements (eventstore.StreamUnchanged) that
	// fail the append should one have moved on since; the next attempt
	// then reads them.
	read func(ctx context.Context, kept bool) ([]eventstore.Statement, error)
	// fresh says the stream's id was made for this command, so there is
	// nothing to load: the first attempt appends at version 0 without
	// reading (should the stream exist after all, the append's version
	// check refuses it and the retry loads it).
	fresh bool
}

// execute runs load → decide → append, retrying on a concurrency conflict,
// and stores the answer under the command's Idempotency-Key in the same
// transaction so a retried request gets the first answer back.
func execute[A any, PA interface {
	*A
	aggregate
}, R any](ctx context.Context, a *App, meta Meta, c change[PA, R]) (_ R, err error) {
	var zero R
	defer func() { a.metrics.commandDone(c.name, err) }()
	var reqHash []byte
	if meta.IdempotencyKey != "" {
		h, err := requestHash(c.request)
		if err != nil {
			return zero, err
		}
		reqHash = h
		if r, found, err := storedResult[R](ctx, a, meta, reqHash); err != nil || found {
			return r, err
		}
	}
	fresh, kept := c.fresh, true
	for attempt := 1; ; attempt++ {
		var guards []eventstore.Statement
		var err error // this attempt's own, never the last attempt's
		if c.read != nil {
			guards, err = c.read(ctx, kept)
		}
		var agg PA
		var info streamInfo
		switch {
		case err != nil:
		case fresh:
			agg = PA(new(A))
		default:
			agg, info, err = load[A, PA](ctx, a.store, c.stream)
		}
		if eventstore.NotSent(err) && attempt < a.maxAttempts {
			continue // a dead pooled connection; the pool hands out a new one
		}
		if err != nil {
			return zero, err
		}
		version := info.Version
		events, err := c.decide(agg, version)
		if err != nil && len(guards) > 0 && attempt < a.maxAttempts {
			// A refusal must come from what is stored, not from a kept copy
			// another process may have outdated: decide again on a read.
			kept = false
			continue
		}
		if err != nil {
			return zero, err
		}
		for _, e := range events {
			agg.Apply(e)
		}
		if len(events) > 0 {
			info.Version += len(events)
			info.UpdatedAt = a.now().UTC()
			if version == 0 {
				info.CreatedAt = info.UpdatedAt
			}
		}
		res, err := c.result(agg, info)
		if err != nil {
			return zero, err
		}
		if len(events) == 0 {
			return res, nil
		}
		req, err := a.appendRequest(ctx, meta, c.stream, c.subject, version, events)
		if err != nil {
			return zero, err
		}
		req.RecordedAt = info.UpdatedAt
		req.Statements = append(req.Statements, c.extra...)
		req.Statements = append(req.Statements, guards...)
		if reqHash != nil {
			stored, err := json.Marshal(res)
			if err != nil {
				return zero, fmt.Errorf("encode answer for idempotency: %w", err)
			}
			st := eventstore.InsertRow("idempotency_keys", "org_id, key, request_hash, result", string(meta.Org), meta.IdempotencyKey, reqHash, stored)
			st.OnUniqueViolation = errIdempotencyRace
			req.Statements = append(req.Statements, st)
		}
		_, err = a.store.Append(ctx, req)
		switch {
		case err == nil:
			a.metrics.appended(req.Events)
			return res, nil
		case errors.Is(err, errIdempotencyRace):
			r, _, err := storedResult[R](ctx, a, meta, reqHash)
			return r, err
		case errors.Is(err, eventstore.ErrStreamMoved) && attempt < a.maxAttempts:
			// What the decision took as kept has moved on: read it.
			a.metrics.retries.WithLabelValues(c.name).Inc()
			kept = false
			continue
		case errors.Is(err, eventstore.ErrConcurrencyConflict) && attempt < a.maxAttempts:
			// Someone else moved the stream: decide again on the new state.
			a.metrics.retries.WithLabelValues(c.name).Inc()
			fresh = false
			time.Sleep(time.Duration(rand.IntN(attempt*2)+1) * time.Millisecond)
			continue
		case errors.Is(err, eventstore.ErrConcurrencyConflict), errors.Is(err, eventstore.ErrStreamMoved):
			return zero, ErrConflict
		case eventstore.NotSent(err) && attempt < a.maxAttempts:
			continue
		default:
			return zero, err
		}
	}
}

// appendRequest wraps decided events with metadata and the reservation rows
// their set rules need.
func (a *App) appendRequest(ctx context.Context, meta Meta, stream, subject string, version int, events []domain.Event) (eventstore.AppendRequest, error) {
	req := eventstore.AppendRequest{Stream: stream, OrgID: string(meta.Org), ExpectedVersion: version}
	md := meta.eventMetadata()
	key, fields, err := a.sealingKey(ctx, &req, stream, version, events)
	if err != nil {
		return req, err
	}
	for _, e := range events {
		data, err := domain.EncodeEvent(e)
		if err != nil {
			return req, err
		}
		if key != nil {
			if data, err = eventstore.SealFields(key, data, fields); err != nil {
				return req, err
			}
		}
		id, err := uuid.NewV7()
		if err != nil {
			return req, fmt.Errorf("new event id: %w", err)
		}
		req.Events = append(req.Events, eventstore.NewEvent{ID: id, Type: e.EventType(), SchemaVersion: domain.SchemaVersion, Data: data, Metadata: md})
		req.Statements = append(req.Statements, reservations(meta.Org, subject, e)...)
	}
	return req, nil
}

// sealingKey is the key that seals the personal fields of a stream's
// events, and which fields those are.
//   - A user's stream: the user's key, a new one (written with the first
//     events) for a new user, the stored one otherwise.
//   - A stream whose events name a helpdesk contact (a ticket, an order):
//     the stream's own key, written with its first events beside the
//     contact's address, so that erasing the contact as a user destroys
//     it (see EraseUser).
//
// Other streams hold no personal fields.
func (a *App) sealingKey(ctx context.Context, req *eventstore.AppendRequest, stream string, version int, events []domain.Event) ([]byte, []string, error) {
	if user, ok := strings.CutPrefix(stream, "user-"); ok {
		if version > 0 {
			key, err := a.store.UserKey(ctx, user)
			return key, domain.PersonalFields, err
		}
		key, err := newKey(req, "user_keys", "user_id, org_id, key", user, req.OrgID)
		if err != nil {
			return nil, nil, err
		}
		a.store.RememberKey(user, key)
		return key, domain.PersonalFields, nil
	}
	contact, named := "", false
	for _, e := range events {
		if contact, named = domain.ContactOf(e); named {
			break
		}
	}
	if !named {
		return nil, nil, nil
	}
	if version > 0 {
		key, err := a.store.StreamKey(ctx, stream)
		return key, domain.ContactFields, err
	}
	// Not remembered before the commit, unlike a new user's: a ticket's
	// stream is named by the helpdesk's id, and a report of the same
	// ticket that lost a race would leave its own key in the cache.
	key, err := newKey(req, "stream_keys", "stream_id, org_id, email, key", stream, req.OrgID, contact)
	return key, domain.ContactFields, err
}

// newKey makes a fresh key that the append writes into table, after
// values, as the last of columns.
func newKey(req *eventstore.AppendRequest, table, columns string, values ...any) ([]byte, error) {
	key, err := eventstore.NewUserKey()
	if err != nil {
		return nil, err
	}
	req.Statements = append(req.Statements, eventstore.InsertRow(table, columns, append(values, key)...))
	return key, nil
}

func requestHash(request any) ([]byte, error) {
	b, err := json.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("encode request for idempotency: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(reflect.TypeOf(request).String()))
	h.Write(b)
	return h.Sum(nil), nil
}

func storedResult[R any](ctx context.Context, a *App, meta Meta, reqHash []byte) (R, bool, error) {
	var zero R
	var hash, result []byte
	err := a.pool.QueryRow(ctx, `SELECT request_hash, result FROM idempotency_keys WHERE org_id = $1 AND key = $2`,
		string(meta.Org), meta.IdempotencyKey).Scan(&hash, &result)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	if string(hash) != string(reqHash) {
		return zero, true, ErrIdempotencyKeyReused
	}
	var r R
	if err := json.Unmarshal(result, &r); err != nil {
		return zero, true, fmt.Errorf("decode stored answer: %w", err)
	}
	return r, true, nil
}

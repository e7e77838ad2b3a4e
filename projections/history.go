package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// HistoryItem is one event as auditors read it: secrets (password and
// token hashes, sealed tokens) are left out of its data.
type HistoryItem struct {
	Position      int64          `json:"position"`
	StreamID      string         `json:"stream_id"`
	StreamVersion int            `json:"stream_version"`
	Type          string         `json:"type"`
	OccurredAt    time.Time      `json:"occurred_at"`
	Actor         HistoryActor   `json:"actor"`
	Trigger       string         `json:"trigger"`
	CorrelationID string         `json:"correlation_id,omitempty"`
	CausationID   string         `json:"causation_id,omitempty"`
	Context       map[string]any `json:"context,omitempty"`
	Data          map[string]any `json:"data"`
}

// HistoryActor says who decided.
type HistoryActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// secretFields never leave the service, not even to auditors.
var secretFields = []string{"password_hash", "token_hash", "sealed_token"}

// ToHistory renders a stored event for auditors.
func ToHistory(e eventstore.RecordedEvent) HistoryItem {
	data := map[string]any{}
	_ = json.Unmarshal(e.Data, &data)
	for _, f := range secretFields {
		if _, ok := data[f]; ok {
			data[f] = "[secret]"
		}
	}
	item := HistoryItem{Position: e.Position, StreamID: e.StreamID, StreamVersion: e.StreamVersion, Type: e.Type,
		OccurredAt: e.RecordedAt.UTC(), Trigger: e.Metadata.Trigger, CorrelationID: e.Metadata.CorrelationID,
		CausationID: e.Metadata.CausationID, Data: data,
		Actor: HistoryActor{Kind: e.Metadata.ActorKind, ID: e.Metadata.ActorID, Name: e.Metadata.ActorName}}
	if len(e.Metadata.Extra) > 0 {
		item.Context = map[string]any{}
		for k, v := range e.Metadata.Extra {
			item.Context[k] = v
		}
	}
	return item
}

// UserHistory returns every event of one user of org, oldest first; found
// is false for a user of another organization or none.
func UserHistory(ctx context.Context, store *eventstore.Store, org domain.OrgID, id domain.UserID) ([]HistoryItem, bool, error) {
	if !domain.ValidID(string(id)) {
		return nil, false, nil
	}
	events, err := store.ReadStream(ctx, id.Stream(), 0)
	if err != nil {
		return nil, false, err
	}
	if len(events) == 0 || events[0].OrgID != string(org) {
		return nil, false, nil
	}
	out := make([]HistoryItem, len(events))
	for i, e := range events {
		out[i] = ToHistory(e)
	}
	return out, true, nil
}

// ErrNotThisOrgsPosition is returned for a cursor position that is not an
// event of the organization.
var ErrNotThisOrgsPosition = &domain.Error{Kind: domain.KindInvalid, Code: "validation_failed", Message: "the request has invalid fields",
	Fields: []domain.FieldError{{Field: "from_position", Message: "names no event of this organization"}}}

// AuditEvents returns up to limit events of org after the event at
// fromPosition (0: from the start), in commit order, optionally only of
// the given types, and the position to continue from (0 when none came).
func AuditEvents(ctx context.Context, store *eventstore.Store, org domain.OrgID, fromPosition int64, limit int, types []string) ([]HistoryItem, int64, error) {
	cursor, err := store.CursorAt(ctx, fromPosition)
	if errors.Is(err, eventstore.ErrUnknownPosition) {
		return nil, 0, ErrNotThisOrgsPosition
	}
	if err != nil {
		return nil, 0, err
	}
	if fromPosition > 0 {
		if owner, err := store.OrgOf(ctx, fromPosition); err != nil {
			return nil, 0, err
		} else if owner != string(org) {
			return nil, 0, ErrNotThisOrgsPosition
		}
	}
	events, err := store.ReadOrgTypes(ctx, string(org), cursor, limit, types)
	if err != nil {
		return nil, 0, fmt.Errorf("audit events: %w", err)
	}
	out := make([]HistoryItem, len(events))
	var last int64
	for i, e := range events {
		out[i] = ToHistory(e)
		last = e.Position
	}
	return out, last, nil
}

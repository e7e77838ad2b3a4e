package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Scan decodes its rows from their wire values (scanDecoder): every
// column must read as pgx's own Scan reads it, with and without the
// metadata, and the event without an organization too.
func TestScanDecodesRowsAsPgxScans(t *testing.T) {
	t.Parallel()
	store, pool := newTestStore(t)
	ctx := context.Background()
	org := uuid.NewString()
	for i, req := range []AppendRequest{
		{Stream: "user-" + uuid.NewString(), OrgID: org, Events: []NewEvent{
			{ID: uuid.New(), Type: "UserCreated", Data: json.RawMessage(`{"email": "ada@example.com", "n": [1, 2]}`),
				Metadata: Metadata{CorrelationID: "c-1", ActorKind: "staff"}},
			{ID: uuid.New(), Type: "InvitationSent", SchemaVersion: 2, Data: json.RawMessage(`{"ü": "é \"quoted\""}`)}}},
		{Stream: "system-1", Events: []NewEvent{{ID: uuid.New(), Type: "Tick", Data: json.RawMessage(`{}`)}}},
	} {
		if _, err := store.Append(ctx, req); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	// ReadAll reads below the server's visible horizon, which a write
	// transaction of a test running beside this one holds back for a while.
	var want []RecordedEvent
	for deadline := time.Now().Add(10 * time.Second); len(want) != 3; time.Sleep(20 * time.Millisecond) {
		var err error
		if want, err = store.ReadAll(ctx, Cursor{}, 100); err != nil || (len(want) != 3 && time.Now().After(deadline)) {
			t.Fatalf("read all: %d events (%v)", len(want), err)
		}
	}
	for _, raw := range []bool{false, true} {
		got, err := store.Scan(ctx, Cursor{}, 100, ScanFilter{RawMetadata: raw, Settled: Cursor{TransactionID: want[2].TransactionID, Position: want[2].Position}})
		if err != nil || len(got) != len(want) {
			t.Fatalf("scan (metadata %v): %d events (%v)", raw, len(got), err)
		}
		for i, g := range got {
			w := want[i]
			if g.Position != w.Position || g.TransactionID != w.TransactionID || g.ID != w.ID || g.StreamID != w.StreamID ||
				g.StreamVersion != w.StreamVersion || g.OrgID != w.OrgID || g.Type != w.Type || g.SchemaVersion != w.SchemaVersion ||
				!bytes.Equal(g.Data, w.Stored) || !bytes.Equal(g.Stored, w.Stored) || !g.RecordedAt.Equal(w.RecordedAt) {
				t.Fatalf("scan (metadata %v) event %d:\n%+v\nread all:\n%+v", raw, i, g, w)
			}
			if raw != (g.RawMetadata != nil) || (raw && !bytes.Equal(g.RawMetadata, w.RawMetadata)) {
				t.Fatalf("scan (metadata %v) event %d: metadata %q, read all %q", raw, i, g.RawMetadata, w.RawMetadata)
			}
		}
	}
	// The rows really are decoded by scanDecoder, not by the fallback; and
	// so are rows whose text and jsonb columns come in binary (jsonb then
	// has a version byte), which pgx may ask for.
	binary := pgx.QueryResultFormats{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	for _, q := range []struct {
		meta    string
		formats []any
	}{{"NULL::bytea", nil}, {"metadata", nil}, {"metadata", []any{binary}}, {"NULL::bytea", []any{binary}}} {
		rows, err := pool.Query(ctx, `SELECT position, transaction_id::text::bigint, event_id, stream_id, stream_version, coalesce(org_id::text, ''),
			event_type, schema_version, data, `+q.meta+`, recorded_at FROM events ORDER BY position`, q.formats...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close() // a failure below must not leave the pool's connection taken
		d, ok := newScanDecoder(rows.FieldDescriptions())
		if !ok {
			t.Fatalf("columns with %s (formats %v) are not decoded by scanDecoder: %+v", q.meta, q.formats, rows.FieldDescriptions())
		}
		var i int
		for ; rows.Next(); i++ {
			var g RecordedEvent
			if err := d.decode(rows.RawValues(), &g); err != nil {
				t.Fatal(err)
			}
			w := want[i]
			if g.ID != w.ID || g.OrgID != w.OrgID || !bytes.Equal(g.Data, w.Stored) || !g.RecordedAt.Equal(w.RecordedAt) ||
				(q.meta == "metadata" && !bytes.Equal(g.RawMetadata, w.RawMetadata)) {
				t.Fatalf("decoded with %s (formats %v) event %d:\n%+v\nread all:\n%+v", q.meta, q.formats, i, g, w)
			}
		}
		if err := rows.Err(); err != nil || i != len(want) {
			t.Fatalf("%d rows decoded (%v)", i, err)
		}
	}
}

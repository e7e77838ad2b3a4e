-- +goose Up
-- The append-only event log. It is also the Watermill topic "events": subscribers
-- read it directly (eventstore.WatermillSchema), so appending an event and
-- publishing it are the same INSERT.
CREATE TABLE events (
    position         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id   xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id         UUID        NOT NULL,
    stream_id        TEXT        NOT NULL,
    stream_version   INT         NOT NULL CHECK (stream_version > 0),
    -- A stream has no gaps: every version above 1 must follow its predecessor.
    previous_version INT GENERATED ALWAYS AS (NULLIF(stream_version - 1, 0)) STORED,
    org_id           UUID,
    event_type       TEXT        NOT NULL,
    schema_version   INT         NOT NULL DEFAULT 1,
    data             JSONB       NOT NULL,
    metadata         JSONB       NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_stream_gapless FOREIGN KEY (stream_id, previous_version)
        REFERENCES events (stream_id, stream_version)
);

-- Commit order for readers: transaction id first, then position (see eventstore.ReadAll).
CREATE INDEX events_commit_order ON events (transaction_id, position);
CREATE INDEX events_org_commit_order ON events (org_id, transaction_id, position);

-- Consumer offsets in the shape watermill-sql's DefaultPostgreSQLOffsetsAdapter expects.
CREATE TABLE watermill_offsets_events (
    consumer_group                VARCHAR(255) NOT NULL PRIMARY KEY,
    offset_acked                  BIGINT,
    last_processed_transaction_id xid8 NOT NULL
);

-- Answers of commands sent with an Idempotency-Key, written in the append's transaction.
CREATE TABLE idempotency_keys (
    org_id       UUID        NOT NULL,
    key          TEXT        NOT NULL,
    request_hash BYTEA       NOT NULL,
    result       JSONB       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE watermill_offsets_events;
DROP TABLE events;

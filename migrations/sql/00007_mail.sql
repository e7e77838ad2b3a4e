-- +goose Up
-- One row per email the service was asked to send (by the id of the event
-- that asked), written in the transaction that records the outcome event:
-- a redelivered event finds its row and sends nothing.
CREATE TABLE mail_deliveries (
    cause_event_id UUID PRIMARY KEY,
    user_id        UUID        NOT NULL,
    kind           TEXT        NOT NULL,
    outcome        TEXT        NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE mail_deliveries;

-- +goose Up
-- Set rules across streams and secret lookups. Each row is written in the same
-- transaction as the event that claims it, so a unique violation refuses the
-- whole append instead of racing a read. All of them can be rebuilt from events.
CREATE TABLE org_slugs (
    slug   TEXT PRIMARY KEY,
    org_id UUID NOT NULL UNIQUE
);

CREATE TABLE email_reservations (
    org_id  UUID NOT NULL,
    email   TEXT NOT NULL,
    user_id UUID NOT NULL,
    PRIMARY KEY (org_id, email)
);

-- Staff API tokens, by SHA-256 of the token (the token itself is never stored).
CREATE TABLE staff_tokens (
    token_hash TEXT PRIMARY KEY,
    token_id   UUID  NOT NULL UNIQUE,
    org_id     UUID  NOT NULL,
    name       TEXT  NOT NULL,
    role       TEXT  NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT false
);

-- Invitation tokens, by SHA-256. Whether one is still usable is decided by the
-- user's stream, not by this row.
CREATE TABLE invitation_tokens (
    token_hash    TEXT PRIMARY KEY,
    invitation_id UUID NOT NULL UNIQUE,
    org_id        UUID NOT NULL,
    user_id       UUID NOT NULL
);

-- +goose Down
DROP TABLE invitation_tokens;
DROP TABLE staff_tokens;
DROP TABLE email_reservations;
DROP TABLE org_slugs;

-- +goose Up
-- One key per user: personal fields of the user's events are stored
-- encrypted with it from the start. Erasure destroys the key (key = NULL):
-- the log stays immutable and its hash chain intact, and the personal data
-- in it can no longer be read.
CREATE TABLE user_keys (
    user_id   UUID PRIMARY KEY,
    org_id    UUID NOT NULL,
    key       BYTEA,
    erased_at TIMESTAMPTZ
);

-- +goose Down
DROP TABLE user_keys;

-- +goose Up
-- The helpdesk's ticket and order events name a contact (the requester's
-- or the buyer's name and address). Their personal fields are sealed like
-- a user's, with a key per stream, kept here beside the contact's address
-- so that erasing a user destroys the key of every ticket and order that
-- names them (key = NULL, and the address goes too). Events written before
-- this table existed were stored in clear and stay so.
CREATE TABLE stream_keys (
    stream_id TEXT PRIMARY KEY,
    org_id    UUID NOT NULL,
    email     TEXT,
    key       BYTEA,
    erased_at TIMESTAMPTZ
);
CREATE INDEX stream_keys_contact ON stream_keys (org_id, lower(email));

-- +goose Down
DROP TABLE stream_keys;

-- +goose Up
-- Tamper evidence: each organization's events form a hash chain, sealed in
-- commit order by the "chain" consumer group (projections.Chain), so that
-- appends never wait for it. Each hash covers the previous hash and the
-- event's canonical content.
CREATE TABLE event_chain (
    org_id   UUID   NOT NULL,
    seq      BIGINT NOT NULL,
    position BIGINT NOT NULL UNIQUE,
    hash     BYTEA  NOT NULL,
    PRIMARY KEY (org_id, seq)
);

CREATE TABLE chain_heads (
    org_id    UUID PRIMARY KEY,
    seq       BIGINT      NOT NULL,
    position  BIGINT      NOT NULL,
    hash      BYTEA       NOT NULL,
    sealed_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE chain_heads;
DROP TABLE event_chain;

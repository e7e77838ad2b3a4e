-- +goose Up
-- The chain's first hash rule meant to cover each event's position, stream
-- version and schema version, and covered none of them (projections/chain.go,
-- appendHashed): a changed schema_version went unnoticed by verify. The
-- second rule covers them and the organization too. Events from the cut-over
-- on are sealed with it; events before it keep the rule they were sealed
-- with, so chains and heads kept outside the system still verify, and a
-- rebuild gives the same hashes. A fresh database cuts over at its first
-- event.
--
-- The cut-over is a position, not a time, so every reader of the chain (the
-- sealer, a rebuild, verify) picks the same rule for the same event. Run it
-- with the servers stopped: one still running the old code would seal new
-- events with the first rule.
CREATE TABLE chain_rule (
    single  BOOLEAN PRIMARY KEY DEFAULT true CHECK (single),
    v2_from BIGINT  NOT NULL
);
INSERT INTO chain_rule (v2_from) SELECT COALESCE(max(position), 0) + 1 FROM events;

-- +goose Down
DROP TABLE chain_rule;

-- +goose Up
-- Where each group of workers fed from NATS JetStream stands in each
-- partition: the stream sequence of the last message applied. It is
-- updated in the transaction that applies the message, so a message
-- delivered again (JetStream delivers at least once) is recognised and
-- skipped: read models stay exactly-once.
CREATE TABLE bus_positions (
    consumer_group TEXT    NOT NULL,
    partition      INT     NOT NULL,
    last_sequence  BIGINT  NOT NULL DEFAULT 0,
    applied        BIGINT  NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, partition)
);

-- +goose Down
DROP TABLE bus_positions;

-- +goose Up
-- The check behind eventstore.StreamUnchanged: an append decided on an
-- aggregate its writer kept from an earlier read fails (SQLSTATE GH001)
-- when that aggregate's stream has moved on, and the writer reads it again.
-- +goose StatementBegin
CREATE FUNCTION gatehouse_stream_unchanged(stream TEXT, version INT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE stream_id = stream AND stream_version > version) THEN
        RAISE EXCEPTION 'stream % moved past version %', stream, version USING ERRCODE = 'GH001';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION gatehouse_stream_unchanged(TEXT, INT);

-- +goose Up
-- Trigram indexes make the case-insensitive substring search of the user
-- list (GET /users?q=) an index lookup instead of a scan.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_view_email_trgm ON users_view USING gin (lower(email) gin_trgm_ops);
CREATE INDEX users_view_name_trgm ON users_view USING gin (lower(first_name || ' ' || last_name) gin_trgm_ops);

-- +goose Down
DROP INDEX users_view_name_trgm;
DROP INDEX users_view_email_trgm;

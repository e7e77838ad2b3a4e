-- +goose Up
-- A search for a whole address (GET /users?q=ada@example.com, the usual
-- way staff look a customer up) goes through this index instead of the
-- email trigram index: see localPartRange in projections/users.go. The
-- trigrams of a domain that every address shares have posting lists as long
-- as the organization, and the trigram index had to intersect them all.
CREATE INDEX users_view_org_email_local ON users_view (org_id, (reverse(split_part(email_search, '@', 1)) COLLATE "C"));

-- +goose Down
DROP INDEX users_view_org_email_local;

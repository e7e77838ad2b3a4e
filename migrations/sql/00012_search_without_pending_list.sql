-- +goose Up
-- The trigram indexes of user search take new entries straight into the
-- index instead of a pending list: every search scans the whole pending
-- list (up to 4 MB), which made a search cost milliseconds on a busy portal
-- and grew with the rate of new users; the cleanup of a full list also
-- stalled the one write that triggered it.
ALTER INDEX users_view_email_trgm SET (fastupdate = off);
ALTER INDEX users_view_name_trgm SET (fastupdate = off);

-- +goose Down
ALTER INDEX users_view_email_trgm RESET (fastupdate);
ALTER INDEX users_view_name_trgm RESET (fastupdate);

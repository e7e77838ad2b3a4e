-- +goose Up
-- The trigram indexes of user search keep a short pending list (256 kB
-- instead of the server's 4 MB): every search scans the whole pending
-- list, which made a search cost milliseconds on a busy portal, and the
-- cleanup of a full 4 MB list stalled the write that triggered it for tens
-- of milliseconds. Without a pending list at all (fastupdate off) each new
-- user cost 0.24 ms of index maintenance instead of 0.06 ms.
ALTER INDEX users_view_email_trgm SET (gin_pending_list_limit = 256);
ALTER INDEX users_view_name_trgm SET (gin_pending_list_limit = 256);

-- +goose Down
ALTER INDEX users_view_email_trgm RESET (gin_pending_list_limit);
ALTER INDEX users_view_name_trgm RESET (gin_pending_list_limit);

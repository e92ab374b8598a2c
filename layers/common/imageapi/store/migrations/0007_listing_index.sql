-- migrate: outside a transaction
-- The listing's index, built without blocking writes; and the indexes nothing reads any more:
-- (created_at, id), unused since 0003, and commit_seq's own, which the listing index replaces.
CREATE INDEX CONCURRENTLY IF NOT EXISTS images_listing_idx
    ON images ((coalesce(txid, '0'::xid8)) DESC, commit_seq DESC);
DROP INDEX CONCURRENTLY IF EXISTS images_commit_seq_idx;
DROP INDEX CONCURRENTLY IF EXISTS images_created_at_id_idx;

-- The listing's order: a number taken in commit order, so that a page can never be served past
-- a row that commits later. created_at (clock_timestamp(), taken before the commit) cannot do
-- that: a row stamped earlier may still be uncommitted when a newer one is already listed.
--
-- The trigger takes a transaction-level advisory lock before drawing the number, and the lock
-- is only released after the transaction's commit (or rollback) is visible. So whoever draws
-- N+1 does so after N's transaction has ended: any snapshot that sees N+1 also sees N (or N
-- rolled back), and a cursor at N+1 has nothing left to commit behind it. The cost is that
-- inserts of images are serialised from the INSERT to its commit (one statement, autocommit).
CREATE SEQUENCE images_commit_seq_seq AS bigint;

ALTER TABLE images ADD COLUMN commit_seq bigint;

-- Existing rows keep their newest-first order.
UPDATE images SET commit_seq = ordered.position
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS position FROM images) AS ordered
WHERE images.id = ordered.id;
SELECT setval('images_commit_seq_seq', coalesce(max(commit_seq), 0) + 1, false) FROM images;

ALTER TABLE images ALTER COLUMN commit_seq SET NOT NULL;
ALTER SEQUENCE images_commit_seq_seq OWNED BY images.commit_seq;
CREATE UNIQUE INDEX images_commit_seq_idx ON images (commit_seq);

CREATE FUNCTION images_assign_commit_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Held until this transaction ends; the key is this table's (any constant unique to it).
    PERFORM pg_advisory_xact_lock(1768300803);
    NEW.commit_seq := nextval('images_commit_seq_seq');
    RETURN NEW;
END
$$;

CREATE TRIGGER images_commit_seq BEFORE INSERT ON images
FOR EACH ROW EXECUTE FUNCTION images_assign_commit_seq();

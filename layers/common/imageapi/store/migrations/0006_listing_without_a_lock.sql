-- The listing's order without a global lock (replaces 0003's trigger and its advisory lock,
-- which serialised every insert from its INSERT to its commit).
--
-- Each row records the id of the transaction that wrote it (txid). The listing shows only rows
-- whose transaction is older than the oldest transaction still running (the snapshot's xmin):
-- all of those have ended. It is ordered newest first by (txid, commit_seq). A row that commits
-- later than a page was served has a txid at or above that page's xmin, so it sorts above every
-- row the page showed: nothing can ever commit behind a cursor. The price: a new row is listed
-- once every transaction older than its own has ended (keep transactions short).
--
-- Rows written before this migration keep txid NULL: they count as transaction 0, older than
-- any to come, still in commit_seq order. Nothing here rewrites the table: the column is added
-- without a default value for existing rows, and the default applies to new rows only.
ALTER TABLE images ADD COLUMN txid xid8;
ALTER TABLE images ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
ALTER TABLE images ALTER COLUMN commit_seq SET DEFAULT nextval('images_commit_seq_seq');
-- commit_seq only orders the rows of one transaction now, which one session writes: each session
-- may take its numbers 64 at a time, sparing concurrent writers the sequence's lock.
ALTER SEQUENCE images_commit_seq_seq CACHE 64;
DROP TRIGGER images_commit_seq ON images;
DROP FUNCTION images_assign_commit_seq();

-- object_key is always images/<id>: every lookup goes by id, so its unique index only costs
-- space and insert time.
ALTER TABLE images DROP CONSTRAINT images_object_key_key;

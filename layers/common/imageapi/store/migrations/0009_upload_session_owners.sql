-- Who each upload session counts against: a digest of the bearer token that created it, or the
-- client's address without API_TOKENS. A create counts the owner's sessions not completed and
-- not expired, and refuses one over MAX_PENDING_UPLOAD_SESSIONS. Rows made before have none and
-- count against no one (they expire within UPLOAD_SESSION_SECONDS).
ALTER TABLE upload_sessions ADD COLUMN owner_key text;

-- That count walks only this owner's pending sessions, from now on in expiry order, and stops at
-- the limit: its cost does not grow with the table. Completed sessions (most rows until reconcile
-- deletes them) are not in the index at all. upload_sessions holds sessions of the last day at
-- most, so a plain build in the migration's transaction blocks its writes only briefly.
CREATE INDEX upload_sessions_pending_owner_idx ON upload_sessions (owner_key, expires_at)
    WHERE state <> 'completed';

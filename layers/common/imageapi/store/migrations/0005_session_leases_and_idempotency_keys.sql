-- Completing an upload session holds no row lock across S3 work: the session is claimed with a
-- lease (state 'completing', an owner, an expiry), the file is checked and published outside any
-- transaction, and the row is written in a short one that moves the session to 'completed' only
-- if the lease is still the owner's. A second complete sees the claim and waits or answers 409.
ALTER TABLE upload_sessions
    ADD COLUMN state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completing', 'completed')),
    ADD COLUMN lease_owner uuid,
    ADD COLUMN lease_expires_at timestamptz;

UPDATE upload_sessions SET state = 'completed' WHERE completed_at IS NOT NULL;

-- Reconcile re-checks an images/<id> object against the session that may be publishing it.
CREATE INDEX upload_sessions_image_id_completing_idx ON upload_sessions (image_id)
    WHERE state = 'completing';

-- Idempotency-Key (IETF httpapi draft): the first outcome of a write, replayed to a retry of the
-- same request within the key's lifetime. resource_id is chosen when the key is first seen (the
-- image or upload id), so a retry after an unknown outcome writes the same resource again.
CREATE TABLE idempotency_keys (
    route            text        NOT NULL,
    key              text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    resource_id      uuid        NOT NULL,
    fingerprint      text,                 -- what the request asked for, once known
    state            text        NOT NULL CHECK (state IN ('processing', 'done')),
    lease_owner      uuid,
    lease_expires_at timestamptz,
    status_code      integer,
    response_body    text,
    location         text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (route, key)
);

-- Reconcile removes keys past their lifetime, oldest first, a batch at a time.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
-- and re-checks an images/<id> object against an upload still being retried under its key.
CREATE INDEX idempotency_keys_resource_processing_idx ON idempotency_keys (resource_id)
    WHERE state = 'processing';

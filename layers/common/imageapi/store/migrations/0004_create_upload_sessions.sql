-- Upload sessions: the client PUTs the file straight to S3 under incoming_key, then completes
-- the session, which checks the object and publishes it as the image image_id.
CREATE TABLE upload_sessions (
    id            uuid        PRIMARY KEY,
    image_id      uuid        NOT NULL UNIQUE,  -- chosen up front, so completing twice finds one image
    incoming_key  text        NOT NULL UNIQUE,
    description   text        NOT NULL CHECK (char_length(description) BETWEEN 1 AND 1000),
    filename      text        NOT NULL,
    size_bytes    bigint      NOT NULL CHECK (size_bytes > 0),
    sha256        char(64),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at    timestamptz NOT NULL,
    completed_at  timestamptz
);

-- Reconcile looks for sessions past their expiry.
CREATE INDEX upload_sessions_expires_at_idx ON upload_sessions (expires_at);

-- Image metadata. The object itself lives in S3 under object_key, which is never exposed.
CREATE TABLE images (
    id           uuid        PRIMARY KEY,
    object_key   text        NOT NULL UNIQUE,
    description  text        NOT NULL CHECK (char_length(description) BETWEEN 1 AND 1000),
    filename     text        NOT NULL,
    content_type text        NOT NULL,
    size_bytes   bigint      NOT NULL CHECK (size_bytes > 0),
    sha256       char(64)    NOT NULL,
    width        integer     CHECK (width > 0),
    height       integer     CHECK (height > 0),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Keyset pagination walks (created_at, id) newest first.
CREATE INDEX images_created_at_id_idx ON images (created_at DESC, id DESC);

-- A thumbnail being rendered, or one that cannot be: one row per image and size, only while a
-- render runs (a lease, so that one environment renders and the others wait for its object) or
-- after it failed (the 422 it gave, answered again without decoding the file). A successful render
-- leaves no row: its object in the bucket is the record. Deleting the image deletes its rows.
CREATE TABLE thumbnail_renders (
    image_id         uuid        NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    size             integer     NOT NULL,
    lease_owner      uuid,
    lease_expires_at timestamptz,
    failure          text,                 -- the 422's detail
    failed_under     text,                 -- the renderer version and limits it failed under
    PRIMARY KEY (image_id, size),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CHECK ((failure IS NULL) = (failed_under IS NULL))
);

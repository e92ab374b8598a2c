-- EXIF orientation, 1-8; NULL where the file has none.
ALTER TABLE images ADD COLUMN orientation smallint CHECK (orientation BETWEEN 1 AND 8);

-- Every upload is now refused unless its dimensions are read. Rows stored before may lack them
-- (a JPEG whose frame header lay past its first 256 KiB): NOT VALID leaves those rows as they
-- are, and holds every row inserted or updated from now on to the rule.
ALTER TABLE images
    ADD CONSTRAINT images_dimensions_known CHECK (width IS NOT NULL AND height IS NOT NULL) NOT VALID;

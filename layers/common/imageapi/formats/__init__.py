"""The bytes of an image, without I/O: sniffing, one streaming walk over each container (JPEG,
PNG, GIF, WebP, HEIF/AVIF), EXIF, markup search; and Pillow rendering for thumbnails. Imports
core only, and nothing of FastAPI, psycopg or botocore."""

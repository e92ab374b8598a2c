"""HTTP mechanics the routes share: the app factory, dependencies, base paths, links, cursors,
conditional requests and ranges, multipart parsing, the cleaning of text fields."""

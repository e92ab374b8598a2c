"""What each route does, one module per route (the get-by-id lookup in images is shared). The
functions under functions/ wire these to FastAPI and Mangum."""

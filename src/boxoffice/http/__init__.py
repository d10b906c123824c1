"""The edge: the HTTP server, request limits, routing, dependencies, problems."""

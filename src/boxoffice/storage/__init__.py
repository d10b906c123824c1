"""The database and its plumbing: connections, compiled statements, tables, errors."""

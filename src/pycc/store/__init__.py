"""Storage: sqlmodel tables and the data access the services use (SQLite or PostgreSQL)."""

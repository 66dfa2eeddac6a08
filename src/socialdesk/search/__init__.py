"""Full-text search over messages and customers: SQLite FTS5, PostgreSQL tsvector."""

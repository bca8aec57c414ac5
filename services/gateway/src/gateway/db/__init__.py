"""The read model in PostgreSQL: migrations, queries, error classification."""

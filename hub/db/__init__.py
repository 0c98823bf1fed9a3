"""Storage: the schema (SQLAlchemy Core), engines for SQLite and PostgreSQL, and Alembic migrations."""

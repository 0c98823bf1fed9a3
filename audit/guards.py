"""The database's help in keeping the audit log append-only: triggers that refuse UPDATE and DELETE (and,
on PostgreSQL, TRUNCATE) of audit rows, whoever asks, and on PostgreSQL the grants that keep the hub's
own role to SELECT and INSERT on them (:func:`grant_app_role`).

These stop mistakes and casual edits; they do not stop someone who owns the database (who can drop a
trigger). The verifier (:mod:`audit.verify`) assumes such an attacker: checkpoints signed with a key
kept outside the database, and the heads auditors keep, are what catch them.
"""
from __future__ import annotations

import re

from sqlalchemy import Connection, text

#: Append-only tables: the chain, its signed checkpoints, the area-read index.
GUARDED = ("audit_events", "audit_checkpoints", "audit_area_reads")
_MESSAGE = "audit rows are append-only"
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def install_guards(conn: Connection) -> None:
    """Create the triggers on every guarded table (part of the schema migration)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(
            "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME; END $$"))
        for table in GUARDED:
            conn.execute(text(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                              "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"))
            conn.execute(text(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                              "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"))
            conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC"))
        return
    for table in GUARDED:
        for operation in ("UPDATE", "DELETE"):
            conn.execute(text(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                              f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: {operation} on {table} refused'); END"))


def remove_guards(conn: Connection) -> None:
    """Drop the triggers (only the downgrade of the migration that made them does this)."""
    for table in GUARDED:
        if conn.dialect.name == "postgresql":
            for name in ("append_only", "no_truncate"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"))
        else:
            for operation in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{operation}"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP FUNCTION IF EXISTS audit_append_only()"))


def grant_app_role(conn: Connection, role: str) -> None:
    """PostgreSQL: let ``role`` (the login the hub runs as, not the schema's owner) read and write the
    hub's tables, but only SELECT and INSERT the audit tables."""
    if conn.dialect.name != "postgresql":
        raise ValueError("database roles are a PostgreSQL matter; SQLite relies on its triggers")
    if not _ROLE.match(role):
        raise ValueError(f"role {role!r}: expected a plain lower-case PostgreSQL role name")
    if conn.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}) == 0:
        raise ValueError(f"role {role!r} does not exist; create it first (`createuser {role}`)")
    schema = conn.scalar(text("SELECT current_schema()"))
    conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
    conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}'))
    conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}'))
    for table in GUARDED:
        conn.execute(text(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{schema}".{table} FROM {role}'))

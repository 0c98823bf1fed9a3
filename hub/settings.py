"""Hub settings, read from the environment (prefix ``HUB_``).

``HUB_HOME`` holds the keys and, by default, the SQLite database. ``HUB_DATABASE_URL`` points the hub
at another database (PostgreSQL in production). ``HUB_KEYS_DIR`` moves the keys elsewhere (a mounted
secret volume, for example); they never live in the database. ``HUB_CONTRACTS_DIR`` names the directory of
the data-sharing contracts in force (default: the agreements shipped with the hub). ``HUB_SOURCES_FILE``
says how to reach each source (its API or its inbox directory; default ``HOME/sources.toml``).
``HUB_AUDIT_CHECKPOINT_EVERY`` and ``HUB_AUDIT_CHECKPOINT_SECONDS`` set how often the audit log's head
is signed; ``HUB_UPLOAD_MAX_BYTES`` caps a file uploaded through the API. ``HUB_LINK_ENGINE`` says where
linking scores pairs (``duckdb`` in the hub's process, or ``spark`` at ``HUB_SPARK_MASTER``).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    home: Path = Field(default=Path(".hub"), description="Directory for keys and the default database.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home.")
    keys_dir: Path | None = Field(default=None, description="Key directory; default HOME/keys.")
    controller: str = Field(default="Saphan hub operator",
                            description="The data controller named on consent receipts.")
    contracts_dir: Path | None = Field(default=None, description="Directory of contract files (*.toml); "
                                       "default: the agreements shipped in contracts/agreements.")
    sources_file: Path | None = Field(default=None, description="How to reach each source (TOML); default "
                                      "HOME/sources.toml.")
    ingest_batch_size: int = Field(default=2000, ge=1, le=20000, description="Records per write batch.")
    upload_max_bytes: int = Field(default=256 * 2**20, ge=1, description="The largest file a partner may "
                                  "upload through the API.")
    notify_keep_days: int = Field(default=90, ge=1, le=3660, description="Days a delivered webhook stays in "
                                  "the outbox before the scheduled delivery removes it (the log keeps that it went).")
    audit_checkpoint_every: int = Field(default=1000, ge=1, description="Sign a checkpoint of the audit "
                                        "log's head at least every this many events...")
    link_engine: Literal["duckdb", "spark"] = Field(default="duckdb", description="Where linking scores pairs: "
                                                    "DuckDB in the hub's process, or Apache Spark.")
    spark_master: str = Field(default="local[2]", description="The Spark master when HUB_LINK_ENGINE=spark "
                              "(local[N], or a cluster's spark://, yarn or k8s:// URL).")
    audit_checkpoint_seconds: float = Field(default=300.0, gt=0, le=366 * 86400, description="...and when an event is "
                                            "appended this many seconds after the last checkpoint.")

    @cached_property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @cached_property
    def resolved_keys_dir(self) -> Path:
        return (self.keys_dir or self.resolved_home / "keys").expanduser().resolve()

    @cached_property
    def resolved_sources_file(self) -> Path:
        return (self.sources_file or self.resolved_home / "sources.toml").expanduser().resolve()

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_home / 'hub.db'}"

"""How the hub reaches each source: ``sources.toml`` (``HUB_SOURCES_FILE``, default ``HOME/sources.toml``).

One table per source, naming either its API or its inbox directory::

    [msdhs_logbook.api]
    base_url = "https://logbook.msdhs.go.th"
    api_key_file = "keys/msdhs_logbook.key"   # or api_key_env = "MSDHS_API_KEY"
    page_size = 500
    # optional: timeout_seconds = 30, attempts = 10, backoff_seconds = 0.5, max_backoff_seconds = 30,
    # max_wait_seconds = 120 (the longest Retry-After honoured)

    [tpmap]
    inbox = "inbox/tpmap"

    [dla_elderly]
    inbox = "inbox/dla"
    [dla_elderly.options]                     # the adapter's own typed options (Adapter.Options)
    encoding = "cp874"

``hub sources add`` writes a source's table after a dry run (:mod:`hub.sync.registration`). Relative paths
are taken from the file's directory. API keys are secrets: they stay in a file or an environment variable,
never in this file or the database.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ConfigurationError
from hub.sync.partner_http import PartnerClient


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiAccess(_Strict):
    base_url: str = Field(pattern=r"^https?://")
    api_key_file: Path | None = None
    api_key_env: str | None = None
    page_size: int = Field(default=500, ge=1, le=500)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    attempts: int = Field(default=10, ge=1, le=100)  # per request, before the pull gives up
    backoff_seconds: float = Field(default=0.5, gt=0)  # the first retry's wait (at most; jittered), doubling
    max_backoff_seconds: float = Field(default=30.0, gt=0)
    max_wait_seconds: float = Field(default=120.0, gt=0)  # the longest wait a Retry-After gets

    @model_validator(mode="after")
    def _one_key(self) -> ApiAccess:
        if (self.api_key_file is None) == (self.api_key_env is None):
            raise ValueError("give exactly one of api_key_file and api_key_env")
        return self

    def api_key(self) -> str:
        """The key, read now (a rotated key file is picked up by the next pull)."""
        if self.api_key_env is not None:
            key = os.environ.get(self.api_key_env, "")
            where = f"environment variable {self.api_key_env}"
        else:
            try:
                key = self.api_key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"cannot read the API key file {self.api_key_file}: {exc.strerror}") from exc
            where = str(self.api_key_file)
        if not key.strip():
            raise ConfigurationError(f"the API key in {where} is empty")
        return key.strip()

    def client(self) -> PartnerClient:
        """A client of the partner's API with these settings and the key as it is now."""
        return PartnerClient(self.base_url, self.api_key(), timeout=self.timeout_seconds, attempts=self.attempts,
                             backoff=self.backoff_seconds, max_backoff=self.max_backoff_seconds,
                             max_wait=self.max_wait_seconds)


class SourceAccess(_Strict):
    api: ApiAccess | None = None
    inbox: Path | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # checked against the adapter's Options where used

    @model_validator(mode="after")
    def _one_way(self) -> SourceAccess:
        if (self.api is None) == (self.inbox is None):
            raise ValueError("give exactly one of api and inbox")
        return self


def reached_by(access: SourceAccess | None) -> str:
    """How a source is reached, in a few words: ``api URL``, ``inbox DIR`` or ``not registered``."""
    if access is None:
        return "not registered"
    return f"api {access.api.base_url}" if access.api is not None else f"inbox {access.inbox}"


def load_access(path: Path) -> dict[str, SourceAccess]:
    """Each source's access, by name; none when the file does not exist. Raises
    :class:`ConfigurationError` naming the source and field that are wrong."""
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    result = {}
    for source, table in raw.items():
        try:
            access = SourceAccess.model_validate(table)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"{path}: [{source}] {problems}") from None
        result[source] = _resolved(access, path.parent)
    return result


def _resolved(access: SourceAccess, base: Path) -> SourceAccess:
    def absolute(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)
    if access.api is not None:
        return access.model_copy(update={"api": access.api.model_copy(
            update={"api_key_file": absolute(access.api.api_key_file)})})
    return access.model_copy(update={"inbox": absolute(access.inbox)})

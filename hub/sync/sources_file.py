"""Writing one source's table into ``sources.toml``, leaving every other table, and every comment outside
the source's own table, as it was. The file is replaced atomically and read back before it replaces the
old one: a write that would leave it invalid changes nothing."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from hub.errors import ConfigurationError
from hub.sync.access import SourceAccess, load_access

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-]+)(?:\.[A-Za-z0-9_.\-]+)?\s*\]")
_API_SETTINGS = ("base_url", "api_key_file", "api_key_env", "page_size", "timeout_seconds", "attempts",
                 "backoff_seconds", "max_backoff_seconds", "max_wait_seconds")


def _value(value: Any) -> str:
    """A TOML value: strings, numbers, booleans and lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigurationError(f"an option of type {type(value).__name__} cannot be written to sources.toml")


def render(source: str, access: SourceAccess, *, options: dict[str, Any]) -> str:
    """``source``'s table: its inbox or API settings (those that differ from the defaults), then its
    options."""
    lines = []
    if access.api is not None:
        lines.append(f"[{source}.api]")
        given = access.api.model_dump(exclude_defaults=True)
        lines += [f"{name} = {_value(given[name])}" for name in _API_SETTINGS if name in given]
    else:
        lines += [f"[{source}]", f"inbox = {_value(access.inbox)}"]
    if options:
        lines.append(f"[{source}.options]")
        lines += [f"{name} = {_value(value)}" for name, value in options.items()]
    return "\n".join(lines) + "\n"


def without_source(text: str, source: str) -> str:
    """``text`` without ``source``'s tables (``[source]``, ``[source.api]``, ``[source.options]``): each from
    its header to the next header of another table."""
    kept, inside = [], False
    for line in text.splitlines(keepends=True):
        if match := _HEADER.match(line):
            inside = match.group(1) == source
        if not inside:
            kept.append(line)
    return "".join(kept)


def write_source(path: Path, source: str, access: SourceAccess, *, options: dict[str, Any]) -> None:
    """Put ``source``'s table in ``path`` (created if missing), replacing the one there. Raises
    :class:`ConfigurationError` when the result would not load; ``path`` is then unchanged."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    rest = without_source(old, source).rstrip("\n")
    new = (rest + "\n\n" if rest else "") + render(source, access, options=options)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.new")
    draft.write_text(new, encoding="utf-8")
    try:
        load_access(draft)
    except ConfigurationError:
        draft.unlink()
        raise
    os.replace(draft, path)

"""U+0000 (NUL) in text. No field of the hub may hold one: PostgreSQL's text cannot, and no partner means
one. Partner rows holding one are quarantined (:mod:`hub.adapter_kit`); requests are refused
(:mod:`hub.api.nul_guard`)."""
from __future__ import annotations

NUL = "\x00"


def holds_nul(value: object) -> bool:
    """Whether ``value`` (a string, or lists, tuples and dicts of them, keys included) holds a NUL."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_nul(v) for v in value)
    return False

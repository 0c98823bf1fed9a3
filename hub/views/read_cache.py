"""What reads of published views found, kept in memory per database, so that the most frequent reads (a page
of an area's figures, asked again and again by a policy unit's or a partner's system) touch no database.

- **Which version each view serves** is kept for :data:`CURRENT_SECONDS`. A publish in this process forgets
  it as soon as its switch commits (:func:`forget_current`); one in another process is seen within that
  time. Every answer names the version it was read from, so no answer mixes two.
- **Slices of aggregate versions**: a version's cells are written once and never changed, so what a read of
  a version found stays true; the most recent :data:`ENTRIES` are kept, each of at most :data:`LARGEST`
  cells. Microdata is never kept: personal data stays in the database.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sized
from typing import Any

from sqlalchemy import Engine

CURRENT_SECONDS = 1.0
ENTRIES = 2048
LARGEST = 500  # cells: a whole view's export is read afresh

_lock = threading.Lock()
_current: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, Any]]] = weakref.WeakKeyDictionary()
_found: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple, Any]] = weakref.WeakKeyDictionary()


def current(engine: Engine, view: str) -> Any | None:
    """The version ``view`` was last found serving, unless that was more than :data:`CURRENT_SECONDS` ago."""
    with _lock:
        seen = _current.get(engine, {}).get(view)
    return seen[1] if seen and time.monotonic() - seen[0] < CURRENT_SECONDS else None


def keep_current(engine: Engine, view: str, version: Any) -> None:
    with _lock:
        _current.setdefault(engine, {})[view] = (time.monotonic(), version)


def forget_current() -> None:
    """Forget which version every view serves, in every database (a publish has just switched some)."""
    with _lock:
        _current.clear()


def known(engine: Engine, key: tuple) -> Any | None:
    """What a read of an immutable version found under ``key``, if it is kept."""
    with _lock:
        found = _found.get(engine)
        if found is None or key not in found:
            return None
        found.move_to_end(key)
        return found[key]


def remembered(engine: Engine, key: tuple, read: Callable[[], Any]) -> Any:
    """What ``read()`` finds for ``key``, which must name an immutable version (its id and publication time):
    kept from an earlier read, or read now and kept unless it is larger than :data:`LARGEST`."""
    value = known(engine, key)
    if value is not None:
        return value
    value = read()
    if not isinstance(value, Sized) or len(value) <= LARGEST:
        with _lock:
            found = _found.setdefault(engine, OrderedDict())
            found[key] = value
            while len(found) > ENTRIES:
                found.popitem(last=False)
    return value

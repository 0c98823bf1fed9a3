"""Person and household ids: opaque 128-bit values, written as 32 hex digits.

An id begins with the millisecond it was made (48 bits), then 80 random bits: ids sort by creation, so
the indexes on them grow at one end (an index on purely random values costs every insert a random page),
while nothing in an id says who it is.
"""
from __future__ import annotations

import os
import time


def new_id() -> str:
    """A fresh id: 12 hex digits of milliseconds since 1970, then 20 random hex digits."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"

"""The verification status shown to auditors by the API (``GET /audit/status``) and the auditor's page.

Verifying a long log takes seconds (a million events: about 8 s on two cores), so a page view must not
start a verification each time. One verification runs at a time per hub process; a request arriving
meanwhile waits for it and shares its result, and a result serves later requests for ``max_age``
seconds. Each status says when it was verified and up to which event, so its age is never hidden. The
CLI (``hub audit verify``) always verifies afresh.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from audit.verify import Verification

#: How long a verification answers status requests.
MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class Status:
    verification: Verification
    verified_at: str  # ISO time (UTC) the verification finished
    seconds: float  # how long it took
    _finished: float  # time.monotonic() when it finished

    def as_json(self) -> dict:
        result = self.verification
        problem = None if result.intact else {"seq": result.problem.seq, "what": result.problem.what}
        return {"intact": result.intact, "events": result.events, "checkpoints": result.checkpoints,
                "problem": problem, "verified_at": self.verified_at, "seconds": round(self.seconds, 3)}


class VerificationStatus:
    """The newest verification by ``verify``, reused for ``max_age`` seconds."""

    def __init__(self, verify: Callable[[], Verification], max_age: float = MAX_AGE_SECONDS):
        self._verify = verify
        self.max_age = max_age
        self._lock = threading.Lock()
        self._newest: Status | None = None

    def current(self) -> Status:
        """The newest status younger than ``max_age``, verifying first when there is none (or waiting for
        the verification under way)."""
        with self._lock:
            newest = self._newest
            if newest is None or time.monotonic() - newest._finished >= self.max_age:
                started = time.monotonic()
                result = self._verify()
                finished = time.monotonic()
                newest = self._newest = Status(result, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                               finished - started, finished)
            return newest

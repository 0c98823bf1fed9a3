"""HTTP to a partner's API that keeps going through rate limits, outages and dropped connections.

A ``429`` waits as long as its ``Retry-After`` says (seconds or an HTTP date; at most ``max_wait``); a
``5xx``, a connection that fails, drops or is cut off mid-answer, a timeout and an answer that is not JSON
wait with exponential backoff and full jitter. After ``attempts`` tries the request fails with
:class:`PartnerUnavailable`. A ``401``/``403`` (a wrong key) or another ``4xx`` is not retried: it is
:class:`PartnerRefused`, since asking again would not help.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from hub.errors import HubError


class PartnerUnavailable(HubError):
    """The partner did not answer usefully within the attempts allowed; try again later."""


class PartnerRefused(HubError):
    """The partner refused the request (wrong key, bad request); retrying will not help."""


class PartnerClient:
    """GETs JSON from ``base_url`` with a bearer ``api_key``; ``sleep`` is how it waits."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, attempts: int = 10,
                 backoff: float = 0.5, max_backoff: float = 30.0, max_wait: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep):
        self._http = httpx.Client(base_url=base_url, timeout=timeout,
                                  headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self.attempts, self.backoff, self.max_backoff, self.max_wait = attempts, backoff, max_backoff, max_wait
        self._sleep = sleep
        self.retries: dict[str, int] = {}  # what made it retry, counted

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(self, *exc) -> None:
        self._http.close()

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        last = ""
        for attempt in range(self.attempts):
            try:
                response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
            except httpx.TransportError as exc:  # refused, dropped, cut off mid-body, timed out
                last = f"{type(exc).__name__}"
                self._wait(attempt, last)
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except json.JSONDecodeError:
                    last = "an answer that is not JSON"
                    self._wait(attempt, "not_json")
                    continue
            if response.status_code == 429:
                last = "429 rate limited"
                self._wait(attempt, "429", retry_after(response.headers.get("Retry-After"), self.max_wait))
                continue
            if response.status_code >= 500:
                last = f"{response.status_code}"
                self._wait(attempt, str(response.status_code))
                continue
            if response.status_code in (401, 403):
                raise PartnerRefused(f"{response.request.url.host} refused the API key ({response.status_code})")
            raise PartnerRefused(f"{response.request.url.host} answered {response.status_code} to {path}: "
                                 f"{response.text[:200]}")
        raise PartnerUnavailable(f"no usable answer from {self._http.base_url} after {self.attempts} attempts "
                                 f"(last: {last})")

    def _wait(self, attempt: int, why: str, seconds: float | None = None) -> None:
        self.retries[why] = self.retries.get(why, 0) + 1
        if attempt + 1 < self.attempts:
            if seconds is None:
                seconds = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))
            self._sleep(seconds)


def retry_after(value: str | None, cap: float) -> float | None:
    """A ``Retry-After`` header as seconds (``None`` when absent or unreadable), at most ``cap``."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return min(max(seconds, 0.0), cap)

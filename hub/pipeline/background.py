"""Run a producer in a forked child process and consume what it yields in the parent.

Parsing and fingerprinting a partner file is pure CPU work that needs no database; running it in a child
lets the parent encrypt and write at the same time, on the second core. Items travel through a pipe, so
the child blocks while the parent is busy: at most a couple of items are in flight, whatever the file
size. An exception in the child is raised again in the parent.

Forking is only safe in a process with one thread: a child forked while another thread holds a lock can
hang or die. Where ``fork`` is unavailable, or the process runs other threads (Python's, or the native
threads of DuckDB once linking has run in this process), the producer simply runs inline.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from hub.errors import HubError

T = TypeVar("T")
_DONE, _ITEM, _ERROR = 0, 1, 2


def _child(send, produce: Callable[[], Iterator[T]]) -> None:
    # The child inherits the parent's whole heap; without this, every collection would walk it. The
    # child is short-lived and what it makes has no reference cycles, so it needs no collector.
    gc.disable()
    try:
        for item in produce():
            send.send((_ITEM, item))
        send.send((_DONE, None))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        try:
            pickle.dumps(exc)
            send.send((_ERROR, exc))
        except Exception:  # noqa: BLE001 - an unpicklable exception travels by type only (its text may quote data)
            send.send((_ERROR, HubError(f"the background reader failed with {type(exc).__name__}")))
    finally:
        send.close()


def _threaded() -> bool:
    """Whether this process runs threads besides the main one (native ones too, where Linux shows them)."""
    try:
        return len(os.listdir("/proc/self/task")) > 1
    except OSError:
        return threading.active_count() > 1


def in_background(produce: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Yield the items of ``produce()``, computed in a forked child process.

    ``produce`` must not touch the parent's open database connections. If the consumer stops early
    (an exception while writing), the child is terminated.
    """
    if "fork" not in multiprocessing.get_all_start_methods() or _threaded():
        yield from produce()
        return
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, produce), daemon=True, name="saphan-ingest-reader")
    child.start()
    send.close()
    try:
        while True:
            try:
                kind, payload = receive.recv()
            except EOFError:
                raise HubError(f"the background reader died (exit code {child.exitcode})") from None
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise payload
            yield payload
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join()

"""Hook specifications for Saphan plugins.

A plugin is any module or object with functions marked ``@hookimpl`` (import it from
:mod:`hub.adapter_kit`). Plugins arrive through the entry-point group ``saphan.adapters``; the built-in
adapters register there too, exactly as a third-party adapter does.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from audit.events import EventType
    from hub.adapter_kit import Adapter

hookspec = pluggy.HookspecMarker("saphan")

# --------------------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------------------


@hookspec
def saphan_register_adapters() -> Iterable[Adapter]:
    """Register the adapters this plugin provides.

    Called once when the plugin manager is built. An adapter reads one partner system's format and
    yields :class:`hub.records.SourceRecord`, :class:`hub.records.Tombstone` and
    :class:`hub.records.Rejected` items; it knows nothing of storage, consent or views.

    :return: The adapters, each with a ``name`` unique across all plugins (the SOURCE of
        ``hub ingest SOURCE``). Two adapters with the same name are a configuration error.
    """


# --------------------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------------------


@hookspec
def saphan_register_event_types() -> Iterable[type[EventType]]:
    """Declare the audit event types this plugin appends.

    The audit log refuses an event whose type nobody declared, so every event is documented.

    :return: Event classes (subclasses of :class:`audit.events.EventType`), each with a unique ``name``.
    """


# --------------------------------------------------------------------------------------------------
# Consent
# --------------------------------------------------------------------------------------------------


@hookspec
def saphan_register_purposes() -> dict[str, str]:
    """Declare purposes a consent may be given for, beyond the core ones of :mod:`consent.vocabulary`.

    :return: Purpose name (lower-case, ``_``-separated) -> a one-line description.
    """

"""The plugin-manager factory. Built on demand, never at import time, so every test gets a fresh one."""
from __future__ import annotations

import pluggy

from hub.plugins import hookspecs

ENTRY_POINT_GROUP = "saphan.adapters"

#: Core modules registered with the same manager as third-party plugins.
DEFAULT_PLUGINS = ("audit.events", "consent.events", "consent.vocabulary", "hub.sync.events", "hub.community.events",
                   "hub.notify.events")


def get_plugin_manager(*, load_entry_points: bool = True, extra_plugins=()) -> pluggy.PluginManager:
    """A plugin manager with Saphan's hookspecs, the core plugins and every installed plugin.

    ``extra_plugins`` are registered after the entry points (tests use it for inline plugins).
    Unknown hook implementations (a misspelt ``saphan_`` function) raise at once.
    """
    import importlib

    pm = pluggy.PluginManager("saphan")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm

"""Saphan (สะพาน): the hub core: settings, storage, keys, plugins, ingest and the command line."""

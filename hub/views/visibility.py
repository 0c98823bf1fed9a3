"""Which published views and which sources an API caller may reach.

- a **partner** reads the views of its own contracts and uploads to the sources those contracts take;
- a **policy** caller reads the aggregate views of policy-unit contracts;
- the **admin** reads every view and uploads to any source;
- every caller reads the public views (open data).

Identified data-return views are never among them (a community reads its households live, through
consent). Whatever a caller may not reach does not exist for it: the API answers 404 alike for a view
that is someone else's and for one that is nobody's.
"""
from __future__ import annotations

from contracts.load import ContractSet, LoadedContract
from contracts.model import View
from hub.tokens import Caller


def visible_views(contracts: ContractSet, caller: Caller) -> dict[str, tuple[LoadedContract, View]]:
    """The views in force ``caller`` may read, by name."""
    out = {}
    for loaded, view in contracts.views():
        partner = loaded.contract.partner
        if view.identified:
            continue
        if (view.public or caller.role == "admin"
                or (caller.role == "partner" and partner.id == caller.partner)
                or (caller.role == "policy" and partner.type == "policy_unit" and not view.microdata)):
            out[view.name] = (loaded, view)
    return out


def writable_sources(contracts: ContractSet, caller: Caller, known: set[str]) -> set[str]:
    """The sources (of the ``known`` adapters) ``caller`` may upload files to."""
    if caller.role == "admin":
        return set(known)
    if caller.role != "partner":
        return set()
    return {source for loaded in contracts.in_force() if loaded.contract.partner.id == caller.partner
            for source in loaded.contract.sources if source in known}

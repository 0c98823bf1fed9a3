"""A contract checked against this hub: its sources are registered adapters and take only fields those
adapters declare; its purposes are known; its views use figures and fields the hub can build, with
transformations each field allows, and every field that can single a person out is a quasi-identifier;
a public view carries counts only (their contribution bounds are known; a sum would need a bound this hub
does not declare) over a level whose every area is known (tambon or coarser)."""
from __future__ import annotations

from collections.abc import Collection, Mapping

from contracts.load import ContractSet, LoadedContract
from contracts.model import View
from hub.adapter_kit import Adapter
from hub.anonymise.levels import LEVELS
from hub.errors import ContractViolation
from hub.views.fields import FIELDS
from hub.views.figures import FIGURES, measures_of

#: Fields without which the hub cannot place a record: every source term must take them.
REQUIRED_FIELDS = frozenset({"tambon_code"})


def _view_problems(view: View, known_sources: Collection[str]) -> list[str]:
    where = f"view {view.name}"
    if view.identified:
        return []
    if not view.microdata:
        unknown = [f for f in view.figures if f not in FIGURES]
        if unknown:
            return [f"{where}: unknown figures {unknown}; known: {', '.join(FIGURES)}"]
        if view.public and (sums := [m.name for m in measures_of(view.figures) if not m.is_count]):
            return [f"{where}: a public view publishes counts only; {', '.join(sums)} are sums"]
        if view.public and view.level == "village":
            return [f"{where}: a public view publishes every area of its level, so that which rows exist says "
                    "nothing; there is no list of every village (use tambon or coarser)"]
        return []
    problems = [f"{where}: scope names no known source {s!r}" for s in view.scope if s not in known_sources]
    catalogue = FIELDS[view.level]
    for name, rule in view.fields.items():
        spec = catalogue.get(name)
        if spec is None:
            problems.append(f"{where}: no {view.level}-level field {name!r}; known: {', '.join(catalogue)}")
        elif not spec.allows(rule.transform):
            problems.append(f"{where}: field {name} cannot be '{rule.transform}'")
        elif rule.transform == "generalise" and rule.to not in LEVELS[spec.ladder]:
            problems.append(f"{where}: field {name} generalises to one of "
                            f"{', '.join(LEVELS[spec.ladder])}, not {rule.to!r}")
        elif spec.ladder and rule.transform != "drop" and name not in view.quasi_identifiers:
            problems.append(f"{where}: field {name} can single a person out (it has a generalisation ladder): "
                            "list it in quasi_identifiers")
    for name in view.quasi_identifiers:
        spec, rule = catalogue.get(name), view.fields[name]
        if spec is not None and (spec.ladder is None or rule.transform not in ("keep", "generalise")):
            problems.append(f"{where}: quasi-identifier {name} must be kept or generalised, on a field with a "
                            "generalisation ladder")
    return problems


def problems_of(loaded: LoadedContract, *, adapters: Mapping[str, Adapter], purposes: Mapping[str, str]) -> list[str]:
    """What is wrong with one contract for this hub (empty when nothing is)."""
    contract, problems = loaded.contract, []
    for purpose in contract.purposes:
        if purpose.name not in purposes:
            problems.append(f"purpose {purpose.name!r} is not known; known: {', '.join(sorted(purposes))}")
    for source, terms in contract.sources.items():
        adapter = adapters.get(source)
        if adapter is None:
            problems.append(f"source {source!r} has no registered adapter")
            continue
        unknown = sorted(set(terms.fields) - set(adapter.fields))
        if unknown:
            problems.append(f"source {source}: {adapter.name} yields no field(s) {', '.join(unknown)}")
        if missing := sorted(REQUIRED_FIELDS - set(terms.fields)):
            problems.append(f"source {source}: the hub cannot place a record without {', '.join(missing)}")
        if terms.own_records and not set(terms.own_records) <= set(terms.fields):
            problems.append(f"source {source}: own_records marks records by {', '.join(terms.own_records)}, "
                            "a field the contract does not take")
    for view in contract.views:
        problems.extend(_view_problems(view, adapters))
    return [f"{loaded.path.name}: {p}" for p in problems]


def check_contracts(contracts: ContractSet, *, adapters: Mapping[str, Adapter], purposes: Mapping[str, str]) -> None:
    """Raise :class:`ContractViolation` listing every problem of every contract, if there is one."""
    problems = [p for loaded in contracts for p in problems_of(loaded, adapters=adapters, purposes=purposes)]
    problems.extend(_schedule_conflicts(contracts))
    problems.extend(_ownership_conflicts(contracts))
    if problems:
        raise ContractViolation("contracts do not fit this hub:\n  " + "\n  ".join(problems))


def _schedule_conflicts(contracts: ContractSet) -> list[str]:
    given: dict[str, dict[str, str]] = {}
    for loaded in contracts:
        for source, terms in loaded.contract.sources.items():
            if terms.schedule:
                given.setdefault(source, {})[loaded.path.name] = terms.schedule
    return [f"source {source}: contracts give different schedules ({', '.join(f'{n}: {s!r}' for n, s in by.items())})"
            for source, by in given.items() if len(set(by.values())) > 1]


def _ownership_conflicts(contracts: ContractSet) -> list[str]:
    """Contracts in force at the same time that take one source must all mark their own records, or none
    (a contract without a mark would provide every record), and no two may mark the same ones."""
    problems = []
    terms = [(c, source, t) for c in contracts for source, t in c.contract.sources.items()]
    for i, (a, source, ta) in enumerate(terms):
        for b, other, tb in terms[i + 1:]:
            overlap = a.contract.signed_on <= b.contract.valid_until and b.contract.signed_on <= a.contract.valid_until
            if other != source or not overlap or a.contract.partner.id == b.contract.partner.id:
                continue
            names = f"{a.path.name} and {b.path.name}"
            if (ta.own_records is None) != (tb.own_records is None):
                problems.append(f"source {source}: {names} both take it, and only one marks its own records "
                                "(own_records): each partner of a shared source must")
            elif ta.own_records is not None and (ta.owns(tb.own_records) or tb.owns(ta.own_records)):
                problems.append(f"source {source}: {names} mark the same records as their own ({ta.own_records})")
    return problems

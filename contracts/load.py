"""Reading contract files: TOML, one agreement per file, validated against :mod:`contracts.model` and
then against what this hub knows (:mod:`contracts.checks`). A contract set that does not validate is not
used at all: the message names the file and the field."""
from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.model import Contract, SourceTerms, View
from hub.errors import ContractViolation

#: The agreements shipped with the hub (the default ``HUB_CONTRACTS_DIR``).
BUILT_IN = Path(__file__).parent / "agreements"


@dataclass(frozen=True)
class LoadedContract:
    contract: Contract
    path: Path
    sha256: str  # of the file's bytes: what the audit log records and a published version cites
    text: str

    def in_force(self, on: dt.date) -> bool:
        return self.contract.signed_on <= on <= self.contract.valid_until


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class ContractSet:
    """Every valid contract file, with lookups by source and by view that see only the contracts in force
    on a day (default: today, UTC): an agreement not yet signed or already ended allows nothing."""

    contracts: tuple[LoadedContract, ...]

    def __iter__(self):
        return iter(self.contracts)

    def in_force(self, on: dt.date | None = None) -> list[LoadedContract]:
        on = on or today()
        return [c for c in self.contracts if c.in_force(on)]

    def taken_fields(self, source: str, on: dt.date | None = None) -> frozenset[str]:
        """The fields of ``source`` some contract in force lets the hub take (empty: none covers it)."""
        terms = [c.contract.sources[source] for c in self.in_force(on) if source in c.contract.sources]
        return frozenset(f for t in terms for f in t.fields)

    def providers(self, source: str, attributes: Mapping[str, Any] | None, on: dt.date | None = None) -> set[str]:
        """The partners of the contracts in force that provide ``source``'s records with these household
        ``attributes``: every one taking the source, or where the contracts mark their own records
        (``own_records``: each university its surveys), the one whose mark they carry."""
        return {c.contract.partner.id for c in self.in_force(on)
                if source in c.contract.sources and c.contract.sources[source].owns(attributes)}

    def owners(self, source: str, on: dt.date | None = None) -> dict[str, SourceTerms]:
        """Partner id -> its terms, for a source the contracts in force share by marking their own records
        (``own_records``); empty for a source one partner provides."""
        return {c.contract.partner.id: c.contract.sources[source] for c in self.in_force(on)
                if source in c.contract.sources and c.contract.sources[source].own_records is not None}

    def schedules(self, on: dt.date | None = None) -> dict[str, str]:
        """Each scheduled source's schedule, from the contracts in force."""
        return {source: terms.schedule for c in self.in_force(on) for source, terms in c.contract.sources.items()
                if terms.schedule}

    def views(self, on: dt.date | None = None) -> list[tuple[LoadedContract, View]]:
        return [(c, v) for c in self.in_force(on) for v in c.contract.views]

    def view(self, name: str, on: dt.date | None = None) -> tuple[LoadedContract, View]:
        for loaded, view in self.views(on):
            if view.name == name:
                return loaded, view
        ended = [c for c in self.contracts if any(v.name == name for v in c.contract.views)]
        if ended:
            c = ended[0].contract
            raise ContractViolation(f"view {name!r}: contract {c.id} is in force from {c.signed_on} to "
                                    f"{c.valid_until}, not now")
        known = ", ".join(sorted(v.name for _, v in self.views(on))) or "none"
        raise ContractViolation(f"no contract defines a view named {name!r}; views: {known}")


def _location(error: dict) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top)"


def parse_contract(path: Path) -> LoadedContract:
    """One file as a validated :class:`LoadedContract`; :class:`ContractViolation` says what is wrong where."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
        document = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ContractViolation(f"{path.name}: not valid UTF-8 TOML ({exc})") from None
    try:
        contract = Contract.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e)}: {e['msg']}" for e in exc.errors())
        raise ContractViolation(f"{path.name}: {problems}") from None
    if path.stem != contract.id:
        raise ContractViolation(f"{path.name}: the file is named after its contract id ({contract.id}.toml)")
    return LoadedContract(contract, path, hashlib.sha256(data).hexdigest(), text)


def load_contracts(paths: Iterable[Path]) -> ContractSet:
    """Every ``*.toml`` file of the ``paths`` (files or directories), in name order."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
    loaded = tuple(parse_contract(f) for f in files)
    ids = [c.contract.id for c in loaded]
    views = [v.name for c in loaded for v in c.contract.views]
    for kind, names in (("contract id", ids), ("view name", views)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ContractViolation(f"{kind} used by more than one contract: {', '.join(twice)}")
    return ContractSet(loaded)

"""``hub publish``: build every view the contracts define, beside the versions being served, then switch
them all in one transaction.

Each view gets the records its contract's consent question allows now (purpose, partner, lawful basis,
sensitive data), then is built (:mod:`hub.views.aggregate` or :mod:`hub.views.microdata`) and written as
a ``building`` version. Only when every view is written does one transaction retire the current versions
and make the new ones current. A failure or a kill before that leaves the current versions served; the
orphaned ``building`` rows are removed by the next publish (one publish runs at a time:
:mod:`hub.views.lock`). The last :data:`KEEP` versions of a view are kept. A public view's privacy spend is
checked against its budget before anything is built.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, update

from audit.events import PublishFailed, ViewPublished
from consent.decisions import R_OBJECTED, R_WITHDRAWN, Ground, Question, Recipient, decide_bulk, load_standing
from contracts.load import ContractSet, LoadedContract
from contracts.model import View
from contracts.registry import record_in_force
from hub.anonymise.suppression import village_groups
from hub.context import Hub
from hub.db.bulk import bulk_insert
from hub.db.schema import view_cells, view_versions
from hub.errors import ContractViolation, HubError, PublishError
from hub.views import read_cache, row_versions
from hub.views.aggregate import build_aggregate
from hub.views.facts import Inputs, household_facts, load_inputs, person_facts
from hub.views.fields import FIELDS
from hub.views.figures import sensitive
from hub.views.freshness import inputs_mark, still_current
from hub.views.lock import publish_lock
from hub.views.microdata import build_microdata

KEEP = 3  # versions of a view kept: the current one and the two before it
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class Published:
    view: str
    version_id: int
    rows: int
    excluded_by_consent: int
    report: dict
    unchanged: bool = False  # nothing it is built from changed: the current version stays


def question_for(loaded: LoadedContract, view: View) -> Question:
    """The consent question a view asks of every record: this purpose, this partner, this basis."""
    contract = loaded.contract
    purpose = contract.purpose(view.purpose)
    if view.microdata:
        is_sensitive = any(FIELDS[view.level][f].sensitive for f, r in view.fields.items() if r.transform != "drop")
    else:
        is_sensitive = sensitive(view.figures)
    ground = None if purpose.lawful_basis == "consent" else Ground(purpose.lawful_basis, purpose.covers_sensitive)
    return Question(view.purpose, Recipient(partner=contract.partner.id, partner_type=contract.partner.type),
                    sensitive=is_sensitive, ground=ground)


def _spent(conn: Connection, view: str) -> float:
    return float(conn.scalar(select(func.coalesce(func.sum(view_versions.c.epsilon), 0.0)).where(
        view_versions.c.view == view, view_versions.c.status.in_(("current", "retired", "expired")))))


def _check_budget(conn: Connection, view: View) -> None:
    if not view.public:
        return
    spent = _spent(conn, view.name)
    if spent + view.privacy.epsilon > view.privacy.epsilon_total + 1e-9:
        raise ContractViolation(f"view {view.name}: its privacy budget is spent ({spent:g} of "
                                f"{view.privacy.epsilon_total:g}); a new release needs a new contract version")


def _facts(inputs: Inputs, allowed: np.ndarray, cache: dict[bytes, pd.DataFrame]) -> pd.DataFrame:
    """Household facts of the ``allowed`` records, built once per distinct consent answer."""
    key = hashlib.blake2b(np.packbits(allowed).tobytes(), digest_size=16).digest()
    if key not in cache:
        cache[key] = household_facts(inputs, allowed)
    return cache[key]


def village_groups_for(contracts: ContractSet, inputs: Inputs, cache: dict[bytes, pd.DataFrame]) -> dict[str, str]:
    """One roll-up of small villages for every village-level view in force, at the largest threshold among
    them, from all households: two views grouping villages differently could be subtracted (so the views
    a publish leaves out count too)."""
    thresholds = [v.threshold for _, v in contracts.views() if v.level == "village" and v.roll_up_small_villages]
    if not thresholds:
        return {}
    households = _facts(inputs, np.ones(len(inputs.records), dtype=bool), cache)
    return village_groups(households.groupby("village").size(), threshold=max(thresholds))


def allowed_records(contracts: ContractSet, chosen: Sequence[tuple[LoadedContract, View]], inputs: Inputs,
                    standing, at: dt.datetime) -> dict[str, np.ndarray]:
    """Per chosen view, the records its consent question allows, each question asked once. An aggregate view
    also loses every record a person's (or household's) own refusal or objection keeps out of any
    aggregate view in force: otherwise two views whose purposes the person treated differently would
    differ by that person, and subtracting them would reveal the person."""
    aggregates = [(c, v) for c, v in contracts.views() if not v.microdata and not v.identified] \
        if any(not v.microdata for _, v in chosen) else []
    asked = {v.name: decide_bulk(inputs.population, standing, question_for(c, v), at)
             for c, v in [*aggregates, *chosen]}
    withheld = np.zeros(len(inputs.records), dtype=bool)
    for _, view in aggregates:
        withheld |= np.isin(asked[view.name].reason, (R_WITHDRAWN, R_OBJECTED))
    return {v.name: asked[v.name].allowed if v.microdata else asked[v.name].allowed & ~withheld for _, v in chosen}


def _build(hub: Hub, inputs: Inputs, loaded: LoadedContract, view: View, allowed: np.ndarray, at: dt.datetime,
           cache: dict[bytes, pd.DataFrame], groups: dict[str, str]):
    """One view's table over the ``allowed`` records, and the persons left out."""
    households = _facts(inputs, allowed, cache)
    if view.microdata:
        units = person_facts(inputs, allowed, households) if view.level == "person" else households
        bits = units["sources" if view.level == "household" else "household_sources"]
        table = build_microdata(units, view, partner=loaded.contract.partner.id, keyring=hub.keyring,
                                scope_bits=bits, today=at.date())
    else:
        table = build_aggregate(households, view, groups=groups)
    excluded = int(inputs.population.frame.loc[~allowed, "person_id"].nunique())
    return table, excluded


def _write_version(conn: Connection, loaded: LoadedContract, view: View, table, excluded: int,
                   at: dt.datetime, mark: dict) -> tuple[int, dict]:
    """Write ``table`` as a ``building`` version of ``view``; its id and its report as stored."""
    report = {**table.report, "excluded_by_consent": excluded, "inputs": mark}
    version = conn.execute(insert(view_versions).values(
        view=view.name, contract_id=loaded.contract.id, contract_sha256=loaded.sha256, level=view.level,
        status="building", started_at=at, rows=len(table), epsilon=view.privacy.epsilon if view.public else None,
        report=report)).inserted_primary_key[0]
    if view.microdata:
        written = row_versions.write_version(conn, view.name, version, table.rows)
        report = {**report, "rows_written": written.written, "rows_shared": written.shared}
        conn.execute(update(view_versions).where(view_versions.c.id == version).values(report=report))
    else:
        cells = table.cells
        rows = [(version, area, level, parent, _json(figures)) for area, level, parent, figures in
                zip(cells.index.tolist(), *(cells[c].tolist() for c in ("level", "parent", "figures")))]
        bulk_insert(conn, view_cells, ("version_id", "area", "level", "parent", "figures"), rows)
    return version, report


def _drop_building(conn: Connection, ids: Sequence[int]) -> None:
    """Remove versions built but never switched in (each the newest of its view) and all they wrote."""
    if ids:
        conn.execute(delete(view_cells).where(view_cells.c.version_id.in_(ids)))
        row_versions.undo(conn, ids)
        conn.execute(delete(view_versions).where(view_versions.c.id.in_(ids)))


def _switch(conn: Connection, built: dict[str, int], at: dt.datetime) -> None:
    t = view_versions
    for view, version in built.items():
        switched = conn.execute(update(t).where(t.c.id == version, t.c.status == "building")
                                .values(status="current", published_at=at)).rowcount
        if switched != 1:
            raise PublishError(f"view {view}: the version built ({version}) is gone; nothing was switched")
        conn.execute(update(t).where(t.c.view == view, t.c.status == "current", t.c.id != version)
                     .values(status="retired"))
        kept = conn.scalars(select(t.c.id).where(t.c.view == view, t.c.status.in_(("current", "retired")))
                            .order_by(t.c.id.desc())).all()
        old = kept[KEEP:]
        if old:
            conn.execute(delete(view_cells).where(view_cells.c.version_id.in_(old)))
            row_versions.expire(conn, view, oldest_kept=kept[KEEP - 1])
        # a public view's spend must stay countable after its rows go: the version row stays, marked expired
        conn.execute(update(t).where(t.c.id.in_(old), t.c.epsilon.is_not(None)).values(status="expired"))
        conn.execute(delete(t).where(t.c.id.in_(old), t.c.epsilon.is_(None)))


def publish(hub: Hub, *, views: Sequence[str] | None = None, actor: str, force: bool = False,
            at: dt.datetime | None = None, progress: Callable[[str], None] | None = None) -> list[Published]:
    """Build and switch in the named views (default: every view the contracts define that the hub
    publishes; identified data-return views are served live, never published). A view nothing it is built
    from has changed for keeps its current version (:mod:`hub.views.freshness`) unless ``force``. Raises
    :class:`ContractViolation` for an unknown view or a spent budget and :class:`PublishError` when a build
    fails (the versions being served stay as they were, and the failure is audited) or another publish is
    running."""
    at = at or dt.datetime.now(dt.UTC)
    contracts = hub.contracts
    chosen = [contracts.view(name) for name in views] if views else \
        [(c, v) for c, v in contracts.views() if not v.identified]
    if refused := [v.name for _, v in chosen if v.identified]:
        raise ContractViolation(f"{', '.join(refused)}: identified data is returned live to a community, "
                                "never published")
    built: dict[str, int] = {}
    with publish_lock(hub):
        try:
            results, kept = _publish_locked(hub, chosen, contracts, built, at, actor, progress, force)
        except ContractViolation as exc:
            _audit_failure(hub, str(exc), actor, built.values())
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, HubError) else f"{type(exc).__name__} while building views"
            _audit_failure(hub, reason, actor, built.values())
            raise PublishError(f"publish failed ({reason}); the views being served are unchanged") from exc
    done = {view.name: Published(view.name, version, len(table), excluded, report)
            for loaded, view, version, table, excluded, report in results}
    done.update({p.view: p for p in kept})
    return [done[view.name] for _, view in chosen]


def _kept(conn: Connection, view: View, version_id: int) -> Published:
    row = conn.execute(select(view_versions.c.rows, view_versions.c.report).where(
        view_versions.c.id == version_id)).one()
    return Published(view.name, version_id, row.rows, row.report.get("excluded_by_consent", 0), row.report,
                     unchanged=True)


def _publish_locked(hub: Hub, chosen: list[tuple[LoadedContract, View]], contracts: ContractSet,
                    built: dict[str, int], at: dt.datetime, actor: str,
                    progress: Callable[[str], None] | None, force: bool) -> tuple[list[tuple], list[Published]]:
    """The publish itself, under the publish lock: a killed publish's leftovers removed, views whose
    inputs are unchanged kept, every other view built and written (``built`` records each version as it is
    written), then all switched in one transaction."""
    with hub.engine.begin() as conn:
        record_in_force(conn, contracts, audit=hub.audit, actor=actor)
        _drop_building(conn, conn.scalars(select(view_versions.c.id).where(
            view_versions.c.status == "building")).all())
        mark = inputs_mark(conn, contracts, at)
        fresh = {} if force else {v.name: version for _, v in chosen
                                  if (version := still_current(conn, v.name, mark, at)) is not None}
        kept = [_kept(conn, v, fresh[v.name]) for _, v in chosen if v.name in fresh]
        chosen = [(c, v) for c, v in chosen if v.name not in fresh]
        for _, view in chosen:
            _check_budget(conn, view)
    if not chosen:
        return [], kept
    with hub.engine.connect() as conn:
        inputs, standing = load_inputs(conn), load_standing(conn)
    results, cache = [], {}
    groups = village_groups_for(contracts, inputs, cache)
    allowed = allowed_records(contracts, chosen, inputs, standing, at)
    for loaded, view in chosen:
        if progress:
            progress(view.name)
        table, excluded = _build(hub, inputs, loaded, view, allowed[view.name], at, cache, groups)
        with hub.engine.begin() as conn:
            version, report = _write_version(conn, loaded, view, table, excluded, at, mark)
        built[view.name] = version
        results.append((loaded, view, version, table, excluded, report))
    with hub.engine.begin() as conn:
        _switch(conn, built, at)
        for loaded, view, version, table, excluded, _ in results:
            hub.audit.append(conn, ViewPublished(
                resource=f"view:{view.name}", partner=loaded.contract.partner.id, purpose=view.purpose,
                version_id=version, contract_sha256=loaded.sha256, rows=len(table),
                excluded_by_consent=excluded, epsilon=view.privacy.epsilon if view.public else None,
                anonymisation=table.report), actor=actor)
    read_cache.forget_current()
    return results, kept


def _audit_failure(hub: Hub, reason: str, actor: str, unfinished: Iterable[int]) -> None:
    """Remove the versions this publish built but did not switch in, and audit the failure."""
    with hub.engine.begin() as conn:
        _drop_building(conn, conn.scalars(select(view_versions.c.id).where(
            view_versions.c.id.in_(list(unfinished)), view_versions.c.status == "building")).all())
        hub.audit.append(conn, PublishFailed(resource="views", reason=reason), actor=actor)

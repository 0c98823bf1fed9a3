"""A linking run: source records to persons and households, with stable ids, in one transaction.

1. Load the keys and coarse facts (no decryption) of the records to compare: all of them in a full run;
   in an incremental run the records written since the last run and the stored records they may make an
   undecided pair with (:mod:`hub.linking.scope`).
2. Deterministic: the same valid citizen ID is one person, unless sex and birth year both disagree
   (then the pair goes to review). IDs one edit apart are found through their keyed deletion variants.
3. Probabilistic: decrypt the names and birth dates of those records, score the pairs the IDs leave
   undecided with the Fellegi-Sunter model, join those at :data:`LINK_AT` or above (best first, never
   two different valid IDs, never against a person's decision, never when first names, birth dates or
   sexes plainly differ) and send the rest from :data:`REVIEW_FROM` up to review.
4. Group persons into households; give clusters their stable ids; write what changed.

Runs are serialised (SQLite's write lock; an advisory lock on PostgreSQL). A failed run changes
nothing: ids, reviews and the model stay as the last completed run left them.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import Connection, bindparam, func, insert, select, update

from audit.events import LinkCompleted, LinkFailed
from hub.community.follow import follow_retired_households
from hub.community.referrals import track_survey_referrals
from hub.context import Hub
from hub.db.bulk import bulk_insert, bulk_update
from hub.db.schema import id_redirects, ingest_runs, link_reviews, link_runs, record_links, source_households
from hub.db.statistics import refresh_statistics
from hub.errors import HubError
from hub.linking import model as match_model
from hub.linking.clusters import Clusters
from hub.linking.deterministic import link_by_id, near_id_groups
from hub.linking.households import group_households
from hub.linking.records import BackgroundDecryption, KeyRow, feature_row, load_identities, load_keys, name_features
from hub.linking.reviews import Decisions, ReviewPair, load_decisions, mark_applied, pending_decisions, save_reviews
from hub.linking.scope import candidates_of, changed_records, whole
from hub.linking.stable_ids import assign_record_ids

#: Pairs scored at or above this are joined.
LINK_AT = 0.99
#: Pairs scored from this up to :data:`LINK_AT` go to review.
REVIEW_FROM = 0.5
#: Comparisons whose plain disagreement stops an automatic join (the pair goes to review).
CONTRADICTIONS = ("fn", "birth", "sex")
CONTRADICTED = "names_or_dates_differ"
#: A full run trains the model; with fewer labelled pairs than this, the built-in m values stand.
MIN_LABELLED_PAIRS = 200

Progress = Callable[[str], None]


class LinkError(HubError):
    """A linking run failed; nothing it computed was stored."""


@dataclass
class LinkReport:
    """What a run did. ``*_joins`` count merges made by each method (a merge joins two clusters);
    ``expected_false_links`` is the model's own estimate, the sum of (1 - p) over the probabilistic joins."""

    run_id: int = 0
    mode: str = "full"
    engine: str = "duckdb"  # where the pairs were scored: duckdb or spark (HUB_LINK_ENGINE)
    records: int = 0
    records_in_play: int = 0
    persons: int = 0
    households: int = 0
    deterministic_joins: int = 0
    decided_joins: int = 0
    probabilistic_joins: int = 0
    review_open: int = 0
    review_new: int = 0
    refused: int = 0
    person_ids_changed: int = 0
    household_ids_changed: int = 0
    ids_retired: int = 0
    expected_false_links: float = 0.0
    records_without_candidate_keys: int = 0
    model_trained: bool = False
    referrals_made: int = 0  # survey referrals tracked for the first time
    referrals_moved: int = 0  # survey referrals a later batch moved forward
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def estimated_precision(self) -> float:
        """The model's estimate of the share of probabilistic joins that are right."""
        if not self.probabilistic_joins:
            return 1.0
        return 1 - self.expected_false_links / self.probabilistic_joins


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def last_completed_run(conn: Connection):
    """The newest completed link run's row (its watermark, model, times), or ``None``."""
    return conn.execute(select(link_runs).where(link_runs.c.status == "completed")
                        .order_by(link_runs.c.id.desc()).limit(1)).first()


def _count_store(conn: Connection, report: LinkReport, rows: list[KeyRow], person_ids: list[str],
                 household_ids: list[str], last) -> None:
    """Records, persons and households in the whole store. A full run has seen every record; an
    incremental run asks the database (index-only counts). Records stored before candidate keys existed
    (their IDs have no variants) are counted by full runs."""
    if report.mode == "full":
        report.records, report.persons, report.households = len(rows), len(set(person_ids)), len(set(household_ids))
        report.records_without_candidate_keys = sum(1 for row in rows if row.any_key is not None and not row.variants)
        return
    links = record_links
    report.records = conn.scalar(select(func.count()).select_from(links))
    report.persons = conn.scalar(select(func.count()).select_from(select(links.c.person_id).distinct().subquery()))
    report.households = conn.scalar(select(func.count()).select_from(
        select(links.c.household_id).distinct().subquery()))
    report.records_without_candidate_keys = last.counts.get("records_without_candidate_keys", 0)


class _Timer:
    """Records each stage's seconds in the report and tells ``progress`` the stage is done."""

    def __init__(self, report: LinkReport, progress: Progress | None):
        self.report, self.progress = report, progress
        self.mark = time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = round(now - self.mark, 3)
        self.mark = now
        if self.progress:
            self.progress(name)


def link(hub: Hub, *, actor: str, full: bool = False, progress: Progress | None = None) -> LinkReport:
    """Link every stored record; incremental after a completed run unless ``full``. Raises
    :class:`LinkError` (audited) when the run fails; the store is then as before."""
    try:
        with ExitStack() as stack, hub.engine.begin() as conn:
            report = _link(hub, conn, stack, actor=actor, full=full, progress=progress)
    except Exception as exc:
        message = f"linking failed ({type(exc).__name__}); ids and reviews are as the last run left them"
        with hub.engine.begin() as conn:
            hub.audit.append(conn, LinkFailed(resource="links", reason=message), actor=actor)
        raise LinkError(message) from exc
    refresh_statistics(hub.engine, (record_links.name, source_households.name),
                       max(report.person_ids_changed, report.household_ids_changed))
    return report


def _link(hub: Hub, conn: Connection, stack: ExitStack, *, actor: str, full: bool,
          progress: Progress | None) -> LinkReport:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('saphan.link'))")
    last = last_completed_run(conn)
    incremental = not full and last is not None and last.model is not None
    report = LinkReport(mode="incremental" if incremental else "full", engine=hub.settings.link_engine)
    timer = _Timer(report, progress)
    watermark = conn.scalar(select(func.coalesce(func.max(ingest_runs.c.committed), 0)))  # commit order
    report.run_id = conn.execute(insert(link_runs).values(
        mode=report.mode, started_at=_now(), status="running", ingest_watermark=watermark, counts={},
    )).inserted_primary_key[0]

    # what to compare: everything (decrypted on the other core meanwhile), or the changed records and
    # their candidates
    decisions = pending_decisions(conn)  # read before anything else: what this run will have applied
    if incremental:
        changed = changed_records(conn, last.ingest_watermark, decisions.records)
        scope = candidates_of(conn, changed)
        compared = scope.compared
    else:
        decryption = stack.enter_context(
            BackgroundDecryption(hub.settings.resolved_database_url, hub.settings.resolved_keys_dir))
        changed = compared = load_keys(conn)
    changed_pks = {row.pk for row in changed}
    dirty = [row.pk in changed_pks for row in compared]
    timer.stage("load keys")
    near = near_id_groups(compared)
    ids = link_by_id(compared)
    timer.stage("deterministic")
    names = {pk: name_features(person) for pk, person in
             load_identities(conn, hub.cipher, [row.pk for row in compared]).items()} if incremental \
        else decryption.result()
    report.records_in_play = len(compared)
    timer.stage("decrypt")
    model, pairs = (json.loads(last.model) if incremental else None), None
    if compared:
        df = match_model.frame([feature_row(row, names[row.pk], near[i], dirty[i])
                                for i, row in enumerate(compared)])
        if not incremental:
            labelled = sum(len(g) * (len(g) - 1) // 2 for g in ids.groups)
            report.model_trained = labelled >= MIN_LABELLED_PAIRS
            model = match_model.train(df, match_model.prior([len(g) for g in ids.groups], len(compared)),
                                      estimate_m=report.model_trained)
        timer.stage("model" if incremental else "train")
        if len(df) > 1:
            pairs = match_model.score(df, model, threshold=REVIEW_FROM, only_touched=incremental,
                                      engine=hub.settings.link_engine, spark_master=hub.settings.spark_master)
        timer.stage("score")

    # what may change: everything, or whole persons and households tied to the changed records
    if incremental:
        involved = _involved(compared, dirty, ids, pairs)
        rows = whole(conn, scope.persons | {r.person_id for r in involved},
                     scope.households | {r.household_id for r in involved}, known=compared)
        dirty = [row.pk in changed_pks for row in rows]
        ids = link_by_id(rows)
    else:
        rows = compared
    clusters, reviews = _cluster(rows, dirty, ids, load_decisions(conn, rows), pairs, model, report, incremental)
    person_ids, retired_persons = _stable(rows, clusters.roots(), "person_id")
    household_ids, retired_households = _stable(rows, group_households(rows, person_ids), "household_id")
    timer.stage("cluster")

    report.person_ids_changed, report.household_ids_changed = _write_ids(conn, rows, person_ids, household_ids,
                                                                         every_record=not incremental)
    if last is not None:  # before the first run every id was provisional (one per record): nothing to redirect
        _write_redirects(conn, report.run_id, "person", retired_persons)
        _write_redirects(conn, report.run_id, "household", retired_households)
        follow_retired_households(conn, retired_households)
        report.ids_retired = len(retired_persons) + len(retired_households)
    report.review_new = save_reviews(conn, report.run_id, rows, reviews, prune=not incremental)
    mark_applied(conn, decisions, report.run_id)
    report.review_open = conn.scalar(select(func.count()).select_from(link_reviews)
                                     .where(link_reviews.c.status == "open"))
    _count_store(conn, report, rows, person_ids, household_ids, last)
    tracked = track_survey_referrals(hub, conn, after=last.ingest_watermark if incremental else None,
                                     actor=actor)
    report.referrals_made, report.referrals_moved = tracked.created, tracked.changed
    timer.stage("write")

    counts = {k: v for k, v in asdict(report).items() if k not in ("run_id", "mode", "seconds")}
    conn.execute(update(link_runs).where(link_runs.c.id == report.run_id).values(
        status="completed", finished_at=_now(), counts=counts,
        model=json.dumps(model) if model is not None else (last.model if last is not None else None)))
    hub.audit.append(conn, LinkCompleted(resource="links", run_id=report.run_id, mode=report.mode,
                                         identities_decrypted=len(names), counts=counts), actor=actor)
    return report


def _involved(compared: list[KeyRow], dirty: list[bool], ids, pairs) -> list[KeyRow]:
    """The changed records and every record tied to one: a scored pair worth joining or reviewing, the
    same valid ID, or the same house, village house number or household unit."""
    involved = {i for i, flag in enumerate(dirty) if flag}
    for group in ids.groups:
        if any(dirty[i] for i in group):
            involved.update(group)
    for a, b in ids.conflicts:
        if dirty[a] or dirty[b]:
            involved.update((a, b))
    if pairs is not None:
        index = {row.pk: i for i, row in enumerate(compared)}
        involved.update(index[pk] for pk in pairs["unique_id_l"].tolist() + pairs["unique_id_r"].tolist())
    places = {p for i in involved for p in _places(compared[i]) if dirty[i]}
    involved.update(i for i, row in enumerate(compared) if not places.isdisjoint(_places(row)))
    return [compared[i] for i in sorted(involved)]


def _places(row: KeyRow) -> set[tuple]:
    return {p for p in (("house", row.house_key), ("address", row.address_block),
                        ("unit", row.source, row.household_ref), ("guardian", row.guardian_key),
                        ("guardian", row.valid_key)) if p[-1] is not None}


def _cluster(rows: list[KeyRow], dirty: list[bool], ids, decisions: Decisions, pairs, model: dict | None,
             report: LinkReport, incremental: bool) -> tuple[Clusters, list[ReviewPair]]:
    """Apply decisions, deterministic groups, kept clusters (incremental) and scored pairs, in that order
    of authority. Returns the clusters and the pairs for review."""
    clusters = Clusters(len(rows), [row.valid_key for row in rows])
    reviews: list[ReviewPair] = []
    for a, b in decisions.different:
        clusters.keep_apart(a, b)
    for a, b in decisions.same:
        if clusters.find(a) != clusters.find(b):
            clusters.union(a, b)
            report.decided_joins += 1
    for a, b in ids.conflicts:
        reviews.append(ReviewPair(a, b, "same_id_conflict", None, {"reason": "same valid ID, sex and birth "
                                                                              "year both differ"}))
    for group in ids.groups:
        for i in group[1:]:
            if clusters.find(group[0]) != clusters.find(i) and clusters.refusal(group[0], i) is None:
                clusters.union(group[0], i)
                report.deterministic_joins += 1
    if incremental:  # what the last run linked stays linked, but for records that changed since
        kept: dict[str, int] = {}
        for i, row in enumerate(rows):
            if not dirty[i]:
                first = kept.setdefault(row.person_id, i)
                if first != i and clusters.refusal(first, i, check_ids=False) is None:
                    clusters.union(first, i)
    if pairs is None or not len(pairs):
        return clusters, reviews
    index = {row.pk: i for i, row in enumerate(rows)}
    labels = match_model.level_labels(model)
    gamma_columns = [c for c in pairs.columns if c.startswith("gamma_")]
    ordered = pairs.sort_values("match_probability", ascending=False, kind="stable")
    for row in ordered.itertuples(index=False):
        a, b, p = index[row.unique_id_l], index[row.unique_id_r], float(row.match_probability)
        if clusters.find(a) == clusters.find(b):
            continue
        values = row._asdict()
        one_edit_ids = values["gamma_citizen_id"] == match_model.ONE_EDIT_LEVEL
        refusal = clusters.refusal(a, b, one_edit_ids=one_edit_ids) or _contradiction(values)
        if p >= LINK_AT and refusal is None:
            clusters.union(a, b)
            report.probabilistic_joins += 1
            report.expected_false_links += 1 - p
            continue
        evidence = {c.removeprefix("gamma_"): labels[c.removeprefix("gamma_")][int(values[c])] for c in gamma_columns}
        if p >= LINK_AT:
            report.refused += 1
            reviews.append(ReviewPair(a, b, refusal, p, evidence))
        elif refusal is None:
            reviews.append(ReviewPair(a, b, "uncertain", p, evidence))
    report.expected_false_links = round(report.expected_false_links, 3)
    return clusters, reviews


def _contradiction(pair: dict) -> str | None:
    """A reason not to join a pair automatically, however high its score: its first names, birth dates
    or sexes plainly differ (twins in one house, a son named after his father). Fellegi-Sunter adds the
    evidence up as if independent; a household's shared surname, house and birthday are not."""
    if any(pair[f"gamma_{c}"] == match_model.DIFFERENT_LEVEL for c in CONTRADICTIONS):
        return CONTRADICTED
    return None


def _stable(rows: list[KeyRow], group_of: list[int], attribute: str) -> tuple[list[str], dict[str, str]]:
    """The stable id of every record's group, and the retired ids with their successors."""
    return assign_record_ids(np.asarray(group_of, dtype=np.int64), [getattr(row, attribute) for row in rows],
                             np.fromiter((row.created_run_id for row in rows), np.int64, len(rows)),
                             np.fromiter((row.pk for row in rows), np.int64, len(rows)))


def _write_ids(conn: Connection, rows: list[KeyRow], person_ids: list[str], household_ids: list[str], *,
               every_record: bool) -> tuple[int, int]:
    """Write the records whose person or household id changed, in one statement, and the household id
    of the source household units (a survey visit, a logbook case) those records belong to; returns how
    many person ids and how many household ids changed. ``every_record``: ``rows`` are the whole store."""
    changed = [(p, h, row.pk) for row, p, h in zip(rows, person_ids, household_ids)
               if p != row.person_id or h != row.household_id]
    bulk_update(conn, record_links, ("person_id", "household_id"), changed,
                most_of_table=every_record and 2 * len(changed) > len(rows))
    units = {(row.source, row.household_ref): h for row, h in zip(rows, household_ids)
             if row.household_ref is not None and h != row.household_id}
    if units:
        t = source_households
        conn.execute(update(t).where(t.c.source == bindparam("unit_source"), t.c.household_ref == bindparam("ref"))
                     .values(household_id=bindparam("new_id")),
                     [{"unit_source": s, "ref": ref, "new_id": h} for (s, ref), h in units.items()])
    return (sum(p != row.person_id for row, p in zip(rows, person_ids)),
            sum(h != row.household_id for row, h in zip(rows, household_ids)))


def _write_redirects(conn: Connection, run_id: int, kind: str, retired: dict[str, str]) -> None:
    """Record retired ids with their successors (an id is retired once: its records leave it for good; a
    successor retired later has its own redirect, see :func:`hub.linking.redirects.resolve`)."""
    bulk_insert(conn, id_redirects, ("kind", "retired_id", "current_id", "run_id"),
                [(kind, old, new, run_id) for old, new in retired.items()])


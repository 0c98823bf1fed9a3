"""Tamper detection: 1,000 random tamperings of copies of a real audit log (edits of any field, deletions,
insertions, reorderings, truncation below a witnessed head, forged checkpoints, and rewrites with every
hash recomputed) are each detected, at the first event that can no longer be trusted; untouched logs
raise no alarm. A sample of the same tamperings is also made in the database itself, SQL against the
hub's tables, and verified by ``hub audit verify``.

The log is real: a hub ingests every partner file, links, publishes, is read view by view, and an
auditor exports witnessed heads along the way (checkpoints every 20 events).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, insert, select, update

from audit.access import audit_public_key, export_checkpoint
from audit.access import verify as verify_hub
from audit.chain import HASHED, canonical, chain_hash
from audit.checkpoints import TOKEN_TYPE, read_witness, unverified_claims
from audit.events import CheckpointExported
from audit.verify import COLUMNS, READ_COLUMNS, Witness, check_log, stored_checkpoints, stored_reads, verify_log
from helpers import ACTOR, ingest_all, isolated_database_url, squash, tampering
from hub.context import Hub
from hub.db.schema import audit_area_reads, audit_checkpoints, audit_events, audit_head
from hub.errors import AuditWriteError
from hub.linking.run import link
from hub.settings import Settings
from hub.signing import public_pem, sign
from hub.views.publish import publish
from hub.views.read import current_versions, read_view

TAMPERINGS = 1000
_SEQ, _PREV, _HASH = 0, COLUMNS.index("prev_hash"), COLUMNS.index("hash")


@pytest.fixture(scope="module")
def real_log(tmp_path_factory):
    """A hub with a real log (a few hundred events), and two witness files an auditor kept."""
    home = tmp_path_factory.mktemp("audited")
    with isolated_database_url(home) as url:
        hub, _ = Hub.init(Settings(home=home, database_url=url, audit_checkpoint_every=20))
        ingest_all(hub)
        link(hub, actor=ACTOR)
        publish(hub, actor=ACTOR)
        early = home / "witness-early.json"
        export_checkpoint(hub, early, actor="cli:auditor")
        with hub.engine.connect() as conn:
            versions = current_versions(conn)
        for version in versions:  # every view whole, then area by area
            whole = read_view(hub, version.view, area=None, whole=True, actor="api:partner:reader")
            areas = sorted({c["area"] for c in whole.cells if c["area"] != "TH"} | {r["area"] for r in whole.rows})
            for area in areas[:25]:
                read_view(hub, version.view, area=area, actor="api:partner:reader")
        late = home / "witness-late.json"
        export_checkpoint(hub, late, actor="cli:auditor")
        yield hub, [early, late]
        hub.engine.dispose()


@dataclasses.dataclass
class Log:
    """A copy of a log: its events (lists, in :data:`COLUMNS` order), head, checkpoints, witnesses and
    area reads (lists, in :data:`READ_COLUMNS` order)."""

    rows: list[list]
    head: tuple[int, bytes]
    checkpoints: list
    witnesses: list
    reads: list[list]

    def copy(self) -> Log:
        return Log([list(r) for r in self.rows], self.head, list(self.checkpoints), list(self.witnesses),
                   [list(r) for r in self.reads])


def snapshot(hub: Hub, witness_files=()) -> Log:
    with hub.engine.connect() as conn:
        rows = [list(r) for r in conn.execute(select(*(audit_events.c[c] for c in COLUMNS)).order_by(
            audit_events.c.seq))]
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
        return Log(rows, (head.seq, bytes(head.hash)), stored_checkpoints(conn),
                   [Witness(p.name, read_witness(p)) for p in witness_files], [list(r) for r in stored_reads(conn)])


def check(log: Log, hub: Hub, key: str):
    return check_log([tuple(r) for r in log.rows], head=log.head, checkpoints=log.checkpoints,
                     witnesses=log.witnesses, reads=[tuple(r) for r in log.reads], event_types=hub.audit.declared,
                     public_key=key).problem


def rehash(rows: list[list], start: int) -> bytes:
    """Recompute links and hashes from index ``start`` on, as an attacker rewriting the log would."""
    prev = rows[start - 1][_HASH] if start else bytes(32)
    for row in rows[start:]:
        row[_PREV] = prev
        row[_HASH] = prev = chain_hash(prev, canonical(row, row[COLUMNS.index("format")]))
    return prev


def _other(value, rng: random.Random):
    if isinstance(value, bytes):
        flipped = rng.randrange(len(value))
        return bytes(b ^ 1 if i == flipped else b for i, b in enumerate(value))
    if isinstance(value, int):
        return value + rng.choice((1, -1, 7))
    if value is None:
        return "mallory"
    return value + "x" if not value or rng.random() < 0.5 else value[:-1] + chr(ord(value[-1]) ^ 1)


@dataclasses.dataclass
class Case:
    kind: str
    expected: int


KINDS = ("edit", "delete", "insert", "reorder", "truncate", "forge", "rewrite", "uncheckpoint", "usage")


def tamper_once(rng: random.Random, log: Log, attacker_key) -> tuple[Case, Log]:
    """One random tampering of a copy of ``log``; returns what was done, with the first seq that can no
    longer be trusted, and the tampered copy."""
    log = log.copy()
    rows, last = log.rows, len(log.rows)
    kind = rng.choice(KINDS)
    i = rng.randrange(last)  # index; seq i + 1
    if kind == "edit":
        column = rng.randrange(len(COLUMNS))
        rows[i][column] = _other(rows[i][column], rng)
        if COLUMNS[column] == "seq" and rows[i][0] in {r[0] for k, r in enumerate(rows) if k != i}:
            rows[i][0] = last + 5  # a database keeps seq unique: the edit moves it past the end
            rows.sort(key=lambda r: r[0])
        return Case(f"edit {COLUMNS[column]}", i + 1), log
    if kind == "delete":
        del rows[i]
        return Case("delete", i + 1), log
    if kind == "insert":
        i = rng.randrange(last - 1)  # before an existing event (appending at the end is what appending is)
        forged = list(rows[i])
        forged[HASHED.index("details")] = json.dumps({"forged": rng.random()})
        rows.insert(i + 1, forged)
        for k, row in enumerate(rows[i + 1:], start=i + 2):
            row[_SEQ] = k
        forged[_PREV] = rows[i][_HASH]
        forged[_HASH] = chain_hash(forged[_PREV], canonical(forged, forged[COLUMNS.index("format")]))
        log.head = (log.head[0] + 1, log.head[1])
        return Case("insert", i + 2), log
    if kind == "reorder":
        j = rng.randrange(last)
        while j == i:
            j = rng.randrange(last)
        i, j = min(i, j), max(i, j)
        rows[i][_SEQ], rows[j][_SEQ] = rows[j][_SEQ], rows[i][_SEQ]
        rows[i], rows[j] = rows[j], rows[i]
        return Case("reorder", i + 1), log
    if kind == "truncate":  # the events, their reads and checkpoints after some event; the head moved back
        keep = rng.randrange(1, max(w.checkpoint.seq for w in log.witnesses))  # events 1..keep stay
        log.rows = rows[:keep]
        log.head = (keep, rows[keep - 1][_HASH])
        log.checkpoints = [c for c in log.checkpoints if c.seq <= keep]
        log.reads = [r for r in log.reads if r[0] <= keep]
        return Case("truncate", keep + 1), log
    if kind == "forge":
        k = rng.randrange(len(log.checkpoints))
        c = log.checkpoints[k]
        how = rng.choice(("head", "seq", "resign"))
        if how == "head":
            forged = dataclasses.replace(c, head=hashlib.sha256(c.head.encode()).hexdigest())
        elif how == "seq":  # the checkpoint moves: the seq it left lacks it
            forged = dataclasses.replace(c, seq=c.seq + rng.choice((-1, 1)))
        else:
            claims = {**dataclasses.asdict(unverified_claims(c.jws)), "prev": None}
            forged = dataclasses.replace(c, jws=sign(attacker_key, claims, token_type=TOKEN_TYPE))
        log.checkpoints[k] = forged
        return Case(f"forge checkpoint ({how})", min(c.seq, forged.seq)), log
    if kind == "uncheckpoint":  # a run of stored checkpoints deleted, the events left alone
        k = rng.randrange(len(log.checkpoints))
        gone = log.checkpoints[k:k + rng.randint(1, 3)]
        log.checkpoints = [c for c in log.checkpoints if c not in gone]
        return Case("uncheckpoint", gone[0].seq), log
    if kind == "usage":  # a community's "who used our data" entries changed
        k = rng.randrange(len(log.reads))
        read = log.reads[k]
        how = rng.choice(("records", "area", "partner", "delete", "duplicate", "move"))
        if how == "delete":
            del log.reads[k]
        elif how == "duplicate":
            log.reads.insert(k, [*read[:1], read[1] + "0", *read[2:]])
        elif how == "move":  # onto an event that read no personal data
            quiet = rng.choice(sorted({r[0] for r in rows} - {r[0] for r in log.reads}))
            log.reads[k] = [quiet, *read[1:]]
            log.reads.sort(key=lambda r: r[0])
            return Case("usage move", min(quiet, read[0])), log
        else:
            column = READ_COLUMNS.index(how)
            log.reads[k] = [*read[:column], _other(read[column], rng), *read[column + 1:]]
        return Case(f"usage {how}", read[0]), log
    # rewrite: edit one event and recompute every hash after it, and the head
    rows[i][HASHED.index("actor")] = "cli:mallory"
    log.head = (log.head[0], rehash(rows, i))
    signed = [c.seq for c in log.checkpoints] + [w.checkpoint.seq for w in log.witnesses]
    return Case("rewrite", max((s for s in signed if s < i + 1), default=0) + 1), log


def test_an_untouched_real_log_verifies(real_log):
    hub, witness_files = real_log
    log = snapshot(hub, witness_files)
    assert len(log.rows) >= 100 and len(log.checkpoints) >= 6 and len(log.reads) >= 10
    assert check(log, hub, audit_public_key(hub)) is None
    result = verify_hub(hub, witness_files)
    assert result.intact and result.events == len(log.rows) and result.witnesses == 3  # and the hub's own
    assert hub.audit.witness.remembered() == max(log.checkpoints, key=lambda c: c.seq)


def test_a_thousand_random_tamperings_are_each_detected_at_the_first_bad_event(real_log):
    hub, witness_files = real_log
    log = snapshot(hub, witness_files)
    key, attacker = audit_public_key(hub), Ed25519PrivateKey.generate()
    rng = random.Random(2567)
    missed, kinds = [], {}
    for _ in range(TAMPERINGS):
        case, tampered = tamper_once(rng, log, attacker)
        kinds[case.kind.split()[0]] = kinds.get(case.kind.split()[0], 0) + 1
        problem = check(tampered, hub, key)
        if problem is None or problem.seq != case.expected:
            missed.append((case, problem))
    assert [(c.kind, c.expected, p) for c, p in missed] == []
    assert set(kinds) == set(KINDS)
    assert check(log, hub, key) is None  # the copies were tampered, not the log


def test_a_forged_witness_file_is_refused(real_log, tmp_path):
    hub, witness_files = real_log
    body = json.loads(witness_files[0].read_text())
    body["head"] = "00" * 32
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(body))
    problem = verify_hub(hub, [forged]).problem
    assert problem.seq == body["seq"] and "forged" in problem.what


# -------------------------------------------------------------- the same, in the database, through the CLI


@pytest.fixture
def log_copy(real_log, tmp_path):
    """A fresh hub whose audit tables hold a copy of the real log (every other table stays empty), with a
    copy of the real hub's keys directory (its keys and its own witness)."""
    hub, witness_files = real_log
    log = snapshot(hub)
    home = tmp_path / "copy"
    shutil.copytree(hub.settings.resolved_keys_dir, home / "keys")
    with isolated_database_url(home) as url:
        settings = Settings(home=home, database_url=url, keys_dir=home / "keys")
        copy, _ = Hub.init(settings)
        with tampering(copy) as conn:
            for table in (audit_checkpoints, audit_area_reads, audit_events, audit_head):
                conn.execute(delete(table))
            conn.execute(insert(audit_events), [dict(zip(COLUMNS, r)) for r in log.rows])
            conn.execute(insert(audit_checkpoints), [
                {"seq": c.seq, "head_hash": bytes.fromhex(c.head), "signed_at": c.signed_at, "jws": c.jws}
                for c in log.checkpoints])
            conn.execute(insert(audit_area_reads), [dict(zip(READ_COLUMNS, r)) for r in log.reads])
            conn.execute(insert(audit_head).values(id=1, seq=log.head[0], hash=log.head[1]))
        yield copy, witness_files, settings
        copy.engine.dispose()


def run_verify(cli, monkeypatch, settings, witness_files, *options):
    for name, value in (("HOME", settings.home), ("DATABASE_URL", settings.database_url),
                        ("KEYS_DIR", settings.keys_dir)):
        monkeypatch.setenv(f"HUB_{name}", str(value))
    return cli("audit", "verify", *(a for p in witness_files for a in ("--witness", p)), *options)


def test_the_copy_verifies_through_the_cli(log_copy, cli, monkeypatch):
    copy, witness_files, settings = log_copy
    result = run_verify(cli, monkeypatch, settings, witness_files)
    assert result.exit_code == 0, result.stderr
    assert squash("audit log intact") in squash(result.stdout)
    assert in_parallel(copy, witness_files) == verify_hub(copy, witness_files)
    assert squash("the 3 witnessed head(s) agree") in squash(result.stdout)  # and the hub's own


def test_an_auditor_verifies_with_the_key_they_pinned(log_copy, cli, monkeypatch, tmp_path):
    copy, witness_files, settings = log_copy
    pinned = tmp_path / "audit-key.pem"
    pinned.write_text(audit_public_key(copy))
    assert run_verify(cli, monkeypatch, settings, witness_files, "--public-key", pinned).exit_code == 0
    pinned.write_text(public_pem(Ed25519PrivateKey.generate()))  # another hub's key: nothing verifies
    result = run_verify(cli, monkeypatch, settings, witness_files, "--public-key", pinned)
    assert result.exit_code == 1 and "bad signature" in result.stderr


@pytest.mark.parametrize("kind", ["edit", "delete", "reorder", "truncate", "forge", "rewrite", "usage", "beyond"])
def test_tampering_in_the_database_is_named_by_hub_audit_verify(log_copy, cli, monkeypatch, kind):
    copy, witness_files, settings = log_copy
    log = snapshot(copy)
    rows, checkpoints = log.rows, log.checkpoints
    target = len(rows) // 3
    e, c = audit_events, audit_checkpoints
    with tampering(copy) as conn:
        if kind == "edit":
            conn.execute(update(e).where(e.c.seq == target).values(record_count=999))
            expected = target
        elif kind == "delete":
            conn.execute(delete(e).where(e.c.seq == target))
            expected = target
        elif kind == "reorder":
            conn.execute(update(e).where(e.c.seq == target).values(seq=-1))
            conn.execute(update(e).where(e.c.seq == target + 1).values(seq=target))
            conn.execute(update(e).where(e.c.seq == -1).values(seq=target + 1))
            expected = target
        elif kind == "truncate":
            conn.execute(delete(e).where(e.c.seq > target))
            conn.execute(delete(c).where(c.c.seq > target))
            conn.execute(update(audit_head).values(seq=target, hash=rows[target - 1][_HASH]))
            expected = target + 1
        elif kind == "forge":
            forged = checkpoints[len(checkpoints) // 2]
            conn.execute(update(c).where(c.c.seq == forged.seq).values(head_hash=bytes(32)))
            expected = forged.seq
        elif kind == "beyond":  # an event appended without moving the head, with a read of a village
            forged = dict(zip(COLUMNS, rows[-1]), seq=len(rows) + 1, prev_hash=rows[-1][_HASH])
            conn.execute(insert(e).values(forged))
            conn.execute(insert(audit_area_reads).values(dict(zip(READ_COLUMNS, log.reads[0]), seq=len(rows) + 1)))
            expected = len(rows) + 1
        elif kind == "usage":
            read = log.reads[len(log.reads) // 2]
            conn.execute(update(audit_area_reads).where(audit_area_reads.c.seq == read[0],
                                                        audit_area_reads.c.area == read[1]).values(records=0))
            expected = read[0]
        else:
            conn.execute(update(e).where(e.c.seq == target).values(actor="cli:mallory"))
            conn.execute(update(audit_head).values(hash=rechain(conn, target, len(rows), rows[target - 2][_HASH])))
            expected = max(s.seq for s in checkpoints if s.seq < target) + 1
    result = run_verify(cli, monkeypatch, settings, witness_files)
    assert result.exit_code == 1
    assert squash(f"audit log broken at event {expected}:") in squash(result.stderr)
    assert verdict(in_parallel(copy, witness_files)) == verdict(verify_hub(copy, witness_files))


def verdict(result) -> tuple:
    """What a verification concluded: events checked and the first untrustworthy event (a problem may be
    worded differently by one pass and by ranges: an event past the head is read, or not)."""
    return result.events, result.checkpoints, result.witnesses, result.problem and result.problem.seq


def in_parallel(hub: Hub, witness_files):
    """The verification of ``hub``'s log by processes splitting it into ranges (a long log's way)."""
    own = [hub.audit.witness.path] if hub.audit.witness.path.exists() else []
    with hub.engine.connect() as conn:
        return verify_log(conn, public_key=audit_public_key(hub), event_types=hub.audit.declared,
                          witness_files=[*witness_files, *own], processes=3, parallel_from=0)


def rechain(conn, first: int, last: int, prev: bytes) -> bytes:
    """Recompute, as a rewriter would, the hashes of events ``first``..``last`` from ``prev``; the new head."""
    e = audit_events
    for seq in range(first, last + 1):
        row = conn.execute(select(*(e.c[n] for n in COLUMNS)).where(e.c.seq == seq)).one()
        digest = chain_hash(prev, canonical(row, row.format))
        conn.execute(update(e).where(e.c.seq == seq).values(prev_hash=prev, hash=digest))
        prev = digest
    return prev


def append_one(hub: Hub) -> None:
    with hub.engine.begin() as conn:
        hub.audit.append(conn, CheckpointExported(resource="audit", file="x.json"), actor="cli:operator")


def test_the_hub_refuses_to_sign_over_a_rewrite_whose_checkpoints_were_deleted(log_copy, cli, monkeypatch):
    """The attack: delete the checkpoints after some point, rewrite the events after it with every hash
    recomputed, and wait for the hub to sign the rewritten head. Here the hub has no witness of its own (it
    lost the file, or a crash came between a commit and its write): a checkpoint falls due among the
    rewritten events, and the hub's check of the events since its newest checkpoint finds that."""
    copy, witness_files, settings = log_copy
    copy.audit.witness.path.unlink()
    log = snapshot(copy)
    kept = log.checkpoints[len(log.checkpoints) // 2]
    first_gone = log.checkpoints[len(log.checkpoints) // 2 + 1]
    e = audit_events
    with tampering(copy) as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq > kept.seq))
        conn.execute(update(e).where(e.c.seq == kept.seq + 2).values(actor="cli:mallory"))
        head = rechain(conn, kept.seq + 2, len(log.rows), log.rows[kept.seq][_HASH])
        conn.execute(update(audit_head).values(hash=head))
    with pytest.raises(AuditWriteError, match="refusing to sign a checkpoint: a checkpoint was due"):
        append_one(copy)
    with copy.engine.connect() as conn:
        assert conn.scalar(select(func.max(audit_checkpoints.c.seq))) == kept.seq  # nothing was signed
    result = run_verify(cli, monkeypatch, settings, [])
    assert result.exit_code == 1
    assert squash(f"audit log broken at event {first_gone.seq}: a checkpoint was due") in squash(result.stderr)


def test_the_hub_refuses_to_sign_after_its_newest_checkpoint_was_deleted(log_copy, cli, monkeypatch):
    """The attack the hub's own witness stops: delete the newest checkpoint, drop the events after it so
    that fewer than ``every`` follow the one before, rewrite those (none falls due), and wait for the hub's
    next checkpoint. The events after the checkpoint left chain from its signed head, so only the witness
    beside the keys shows that a later checkpoint existed."""
    copy, witness_files, settings = log_copy
    log = snapshot(copy)
    newest, kept = log.checkpoints[-1], log.checkpoints[-2]
    assert copy.audit.witness.remembered() == newest
    e = audit_events
    with tampering(copy) as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq == newest.seq))
        conn.execute(delete(audit_area_reads).where(audit_area_reads.c.seq >= newest.seq))
        conn.execute(delete(e).where(e.c.seq >= newest.seq))
        conn.execute(update(e).where(e.c.seq == kept.seq + 1).values(actor="cli:mallory"))
        head = rechain(conn, kept.seq + 1, newest.seq - 1, bytes.fromhex(kept.head))
        conn.execute(update(audit_head).values(seq=newest.seq - 1, hash=head))
    with pytest.raises(AuditWriteError, match=f"checkpoint {newest.seq}, which the hub signed and saw committed"):
        for _ in range(20):  # until the cadence of the checkpoint left says one is due
            append_one(copy)
    with copy.engine.connect() as conn:
        assert conn.scalar(select(func.max(audit_checkpoints.c.seq))) == kept.seq  # nothing was signed
    result = run_verify(cli, monkeypatch, settings, [])
    assert result.exit_code == 1
    assert squash(f"audit log broken at event {newest.seq}: witness audit-witness.json: the hub no longer holds "
                  f"its checkpoint {newest.seq} (deleted)") in squash(result.stderr)


def test_the_hub_refuses_to_sign_a_log_rewritten_without_checkpoints(log_copy, cli, monkeypatch):
    """The other attack: every checkpoint deleted and every event rewritten in the oldest format (which has
    no checkpoints), hashes recomputed from the start."""
    copy, witness_files, settings = log_copy
    e = audit_events
    with tampering(copy) as conn:
        conn.execute(delete(audit_checkpoints))
        conn.execute(delete(audit_area_reads))
        conn.execute(update(e).values(format=1, role=None, partner=None, purpose=None, area=None,
                                      record_count=None, request_id=None))
        last = conn.scalar(select(func.max(e.c.seq)))
        conn.execute(update(audit_head).values(hash=rechain(conn, 1, last, bytes(32))))
    gone = r"which the hub signed and saw committed \(audit-witness.json\), is no longer in the database"
    with pytest.raises(AuditWriteError, match=gone):
        append_one(copy)
    with copy.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(audit_checkpoints)) == 0
    result = run_verify(cli, monkeypatch, settings, [])
    assert result.exit_code == 1
    assert squash("audit log broken at event 1: witness audit-witness.json") in squash(result.stderr)


def test_a_checkpoint_rolled_back_is_not_remembered(log_copy):
    """The hub's witness names only committed checkpoints: one signed in a transaction that rolls back is
    forgotten with it, and the hub goes on signing."""
    copy, _, _ = log_copy
    before = copy.audit.witness.remembered()
    every = 20
    with pytest.raises(RuntimeError), copy.engine.begin() as conn:
        copy.audit.append_many(conn, [CheckpointExported(resource="audit", file=f"{i}.json")
                                      for i in range(every)], actor="cli:operator")
        assert conn.scalar(select(func.max(audit_checkpoints.c.seq))) > before.seq  # signed, not committed
        raise RuntimeError("the work this audit records failed")
    assert copy.audit.witness.remembered() == before
    for _ in range(every):
        append_one(copy)
    with copy.engine.connect() as conn:
        newest = conn.scalar(select(func.max(audit_checkpoints.c.seq)))
    assert copy.audit.witness.remembered().seq == newest > before.seq
    assert verify_hub(copy).intact

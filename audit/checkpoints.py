"""Signed checkpoints of the chain's head, and witness files.

A checkpoint is a compact JWS (EdDSA, the keyring's ``audit`` key, kept outside the database) over
``{"seq", "head", "signed_at"}``: the head hash (hex) after event ``seq``. The hub stores each one in
``audit_checkpoints``; an outside witness (an auditor) keeps copies exported with ``hub audit checkpoint
--export FILE``. Whoever rewrites the log must then forge the signature: without the key they cannot,
so a rewritten or truncated log disagrees with a checkpoint they cannot change.

A witness file is JSON: the checkpoint's fields, its JWS and the public key (PEM) that verifies it.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, insert, select

from hub.db.schema import audit_checkpoints
from hub.errors import HubError
from hub.signing import SignatureError, public_pem, sign, verify

TOKEN_TYPE = "saphan-audit-checkpoint+jws"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str  # hex
    signed_at: str
    jws: str


class WitnessError(HubError):
    """A witness file cannot be read."""


def last_checkpoint(conn: Connection) -> tuple[int, str] | None:
    """The seq and signing time of the newest checkpoint, if any."""
    row = conn.execute(select(audit_checkpoints.c.seq, audit_checkpoints.c.signed_at)
                       .order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else (row.seq, row.signed_at)


def checkpoint_due(last: tuple[int, str] | None, seq: int, at: str, *, every: int, seconds: float) -> bool:
    """Whether the head after event ``seq`` (appended at ``at``) needs a checkpoint, the ``last`` one
    being at that seq and time: ``every`` events or ``seconds`` later, or when there is none yet."""
    if last is None:
        return True
    elapsed = dt.datetime.fromisoformat(at) - dt.datetime.fromisoformat(last[1])
    return seq - last[0] >= every or elapsed.total_seconds() >= seconds


def sign_checkpoint(conn: Connection, key: Ed25519PrivateKey, *, seq: int, head: bytes) -> Checkpoint:
    """Sign and store a checkpoint of the head ``head`` after event ``seq`` (in the caller's transaction)."""
    signed_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    jws = sign(key, {"seq": seq, "head": head.hex(), "signed_at": signed_at}, token_type=TOKEN_TYPE)
    conn.execute(insert(audit_checkpoints).values(seq=seq, head_hash=head, signed_at=signed_at, jws=jws))
    return Checkpoint(seq, head.hex(), signed_at, jws)


def latest(conn: Connection) -> Checkpoint | None:
    row = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else Checkpoint(row.seq, row.head_hash.hex(), row.signed_at, row.jws)


def check_signature(checkpoint: Checkpoint, public_key: str) -> str | None:
    """What is wrong with ``checkpoint`` under ``public_key`` (PEM), or ``None``: its JWS must verify and
    say exactly its seq, head and time."""
    try:
        claims = verify(checkpoint.jws, public_key, token_type=TOKEN_TYPE)
    except SignatureError as exc:
        return f"bad signature ({exc})"
    if (claims.get("seq"), claims.get("head"), claims.get("signed_at")) != \
            (checkpoint.seq, checkpoint.head, checkpoint.signed_at):
        return "its signed content differs from its stated seq, head or time (forged)"
    return None


def write_witness(path: Path, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    """Write ``checkpoint`` as a witness file for an auditor to keep."""
    body = {**asdict(checkpoint), "public_key": public_pem(key)}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def read_witness(path: Path) -> Checkpoint:
    """The checkpoint a witness file holds (its signature is checked by the verifier, against the key
    the auditor trusts)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(int(body["seq"]), str(body["head"]), str(body["signed_at"]), str(body["jws"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WitnessError(f"{path}: not a witness file written by `hub audit checkpoint --export` ({exc})") from exc

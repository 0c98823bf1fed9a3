"""Signed checkpoints of the chain's head, their cadence, and witness files.

A checkpoint is a compact JWS (EdDSA, the keyring's ``audit`` key, kept outside the database) over
:class:`Claims`: the head hash (hex) after event ``seq``, the time of that event, the previous checkpoint
(its seq and head, so checkpoints form a chain of their own and none can be removed unnoticed) and the
cadence until the next one (``every`` events or ``seconds`` after this event, whichever comes first). The
hub stores each one in ``audit_checkpoints``; an outside witness (an auditor) keeps copies exported with
``hub audit checkpoint --export FILE``. Whoever rewrites the log must then forge the signature: without the
key they cannot, so a rewritten or truncated log disagrees with a checkpoint they cannot change, or lacks
one that was due.

A witness file is JSON: the checkpoint's fields, its JWS and the public key (PEM) that verifies it.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import asdict, dataclass
from functools import cached_property
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
    signed_at: str  # the time of event ``seq``
    jws: str


@dataclass(frozen=True)
class Cadence:
    """When the checkpoint after the one at ``seq`` (event time ``at``) is due: at the event ``every``
    events later, or at the first event ``seconds`` or more after ``at``. The hub and the verifier both
    decide with :meth:`due`, from the signed claims, so they agree on every event."""

    seq: int
    at: str
    every: int
    seconds: float

    @cached_property
    def _deadline(self) -> str:  # event times are ISO text in UTC: comparing the text compares the times
        return (dt.datetime.fromisoformat(self.at) + dt.timedelta(seconds=self.seconds)).isoformat(
            timespec="microseconds")

    def due(self, seq: int, at: str) -> bool:
        return seq - self.seq >= self.every or at >= self._deadline


@dataclass(frozen=True)
class Claims:
    """What a checkpoint's JWS says."""

    seq: int
    head: str
    signed_at: str
    prev: tuple[int, str] | None  # the previous checkpoint's seq and head; none for the first
    every: int
    seconds: float

    @classmethod
    def of(cls, body: dict) -> Claims:
        prev = body.get("prev")
        return cls(int(body["seq"]), str(body["head"]), str(body["signed_at"]),
                   None if prev is None else (int(prev[0]), str(prev[1])), int(body["every"]),
                   float(body["seconds"]))

    @property
    def cadence(self) -> Cadence:
        return Cadence(self.seq, self.signed_at, self.every, self.seconds)


class WitnessError(HubError):
    """A witness file cannot be read."""


def unverified_claims(jws: str) -> Claims:
    """The claims of a checkpoint, read without checking its signature (to look at one; the hub and the
    verifier use :func:`checked_claims`)."""
    payload = jws.split(".")[1]
    return Claims.of(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def last_checkpoint(conn: Connection) -> Checkpoint | None:
    row = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else Checkpoint(row.seq, bytes(row.head_hash).hex(), row.signed_at, row.jws)


def sign_checkpoint(conn: Connection, key: Ed25519PrivateKey, *, seq: int, head: bytes, at: str,
                    prev: Checkpoint | None, every: int, seconds: float) -> Checkpoint:
    """Sign and store (in the caller's transaction) a checkpoint of the head ``head`` after event ``seq``,
    appended at ``at``, following ``prev``, with the cadence until the next one."""
    claims = {"seq": seq, "head": head.hex(), "signed_at": at,
              "prev": None if prev is None else [prev.seq, prev.head], "every": every, "seconds": seconds}
    jws = sign(key, claims, token_type=TOKEN_TYPE)
    conn.execute(insert(audit_checkpoints).values(seq=seq, head_hash=head, signed_at=at, jws=jws))
    return Checkpoint(seq, head.hex(), at, jws)


def checked_claims(checkpoint: Checkpoint, public_key: str) -> Claims | str:
    """The claims of ``checkpoint`` when its JWS verifies under ``public_key`` (PEM) and says exactly its
    seq, head and time; otherwise what is wrong with it."""
    try:
        claims = Claims.of(verify(checkpoint.jws, public_key, token_type=TOKEN_TYPE))
    except SignatureError as exc:
        return f"bad signature ({exc})"
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return f"its signed content is not a checkpoint's ({exc!r})"
    if (claims.seq, claims.head, claims.signed_at) != (checkpoint.seq, checkpoint.head, checkpoint.signed_at):
        return "its signed content differs from its stated seq, head or time (forged)"
    return claims


def witness_text(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> str:
    """``checkpoint`` as a witness file's content."""
    return json.dumps({**asdict(checkpoint), "public_key": public_pem(key)}, indent=2) + "\n"


def write_witness(path: Path, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    """Write ``checkpoint`` as a witness file for an auditor to keep."""
    path.write_text(witness_text(checkpoint, key), encoding="utf-8")


def read_witness(path: Path) -> Checkpoint:
    """The checkpoint a witness file holds (its signature is checked by the verifier, against the key
    the auditor trusts)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(int(body["seq"]), str(body["head"]), str(body["signed_at"]), str(body["jws"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WitnessError(f"{path}: not a witness file written by `hub audit checkpoint --export` ({exc})") from exc

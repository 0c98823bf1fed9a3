"""Each person's own data key, so that erasing a person is destroying one key (crypto-shredding).

A person record's personal fields (name, birth date, own address, private facts) are encrypted with a
random 256-bit key of that person's. The key's *anchor* is the person's keyed citizen ID, so all their
records in every source share one key; a record without an ID anchors on its keyed (source, record id).
Keys are stored in ``subject_keys`` wrapped (AES-GCM, the anchor as associated data) by the keyring's
active subject wrapping key, which lives with the other keys outside the database.

Erasure deletes the wrapped key: every copy of that person's ciphertexts (the database, its WAL, an
export) is noise from then on. A backup taken before still holds the wrapped key; rotating the wrapping
keys (:func:`rotate_wrapping_key`, ``hub keys rotate-subject-keys``) re-wraps the live keys and forgets
the old wrapping key, after which no backup can unwrap an erased person's key either.
"""
from __future__ import annotations

import datetime as dt
import hmac
import os
import struct
from collections import OrderedDict
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, delete, select, update

from hub.db.bulk import SQLITE_MAX_KEYS, bulk_insert
from hub.db.schema import erased_subjects, subject_keys
from hub.errors import KeyringError
from hub.keys import Keyring

ANCHOR_BYTES = 16
_WRAP_HEADER = struct.Struct(">H")
_NONCE = 12


class SubjectKeyGone(KeyringError):
    """The person's data key was destroyed (they were erased): their data cannot be decrypted."""


def anchor_for(linkage_key: bytes | None, keyring: Keyring, source: str, record_id: str) -> bytes:
    """The key anchor of a record: its keyed citizen ID, else its keyed (source, record id)."""
    if linkage_key is not None:
        return linkage_key[:ANCHOR_BYTES]
    return hmac.digest(keyring.derived("subject-anchor"), f"{source}\x1f{record_id}".encode(), "sha256")[:ANCHOR_BYTES]


class SubjectKeys:
    """Creates, finds, caches and destroys per-person data keys. Decryption finds a key by the id that
    each ciphertext names; :meth:`prefetch` loads many in one query for bulk readers."""

    def __init__(self, keyring: Keyring, engine: Engine | None = None, *, cache: int = 200_000):
        self._wraps = {n: AESGCM(k) for n, k in keyring.subject_wraps.items()}
        self._active = max(keyring.subject_wraps, default=None)
        self._engine = engine
        self._cache: OrderedDict[int, AESGCM] = OrderedDict()
        self._limit = cache

    # ------------------------------------------------------------------------------------ wrapping

    def _wrap(self, anchor: bytes, key: bytes) -> bytes:
        if self._active is None:
            raise KeyringError("the keyring has no subject wrapping key yet; run `hub init` to add it")
        nonce = os.urandom(_NONCE)
        return _WRAP_HEADER.pack(self._active) + nonce + self._wraps[self._active].encrypt(nonce, key, anchor)

    def _unwrap(self, anchor: bytes, wrapped: bytes) -> bytes:
        (wrap_id,) = _WRAP_HEADER.unpack_from(wrapped)
        if wrap_id not in self._wraps:
            raise KeyringError(f"a person's data key is wrapped by subject wrapping key {wrap_id}, which this "
                               "keyring no longer holds (a backup older than the last rotation?)")
        try:
            return self._wraps[wrap_id].decrypt(wrapped[2:2 + _NONCE], wrapped[2 + _NONCE:], anchor)
        except InvalidTag:
            raise KeyringError("a person's wrapped data key does not unwrap (tampered or moved)") from None

    def _remember(self, key_id: int, aead: AESGCM) -> AESGCM:
        self._cache[key_id] = aead
        if len(self._cache) > self._limit:
            self._cache.popitem(last=False)
        return aead

    # ------------------------------------------------------------------------------------ writing

    def ensure(self, conn: Connection, anchors: Iterable[bytes]) -> dict[bytes, tuple[int, AESGCM]]:
        """The (key id, cipher) of each anchor, making keys for new anchors, in the caller's transaction.
        Nothing is cached: the transaction may still roll back."""
        wanted = sorted(set(anchors))
        found = self._fetch_by_anchor(conn, wanted)
        new = [a for a in wanted if a not in found]
        if new:
            now = dt.datetime.now(dt.UTC)
            bulk_insert(conn, subject_keys, ("anchor", "wrapped", "created_at"),
                        [(a, self._wrap(a, AESGCM.generate_key(256)), now) for a in new])
            found.update(self._fetch_by_anchor(conn, new))
        return found

    def _fetch_by_anchor(self, conn: Connection, anchors: list[bytes]) -> dict[bytes, tuple[int, AESGCM]]:
        t, out = subject_keys, {}
        for i in range(0, len(anchors), SQLITE_MAX_KEYS):
            rows = conn.execute(select(t.c.id, t.c.anchor, t.c.wrapped)
                                .where(t.c.anchor.in_(anchors[i:i + SQLITE_MAX_KEYS]))).all()
            for key_id, anchor, wrapped in rows:
                anchor = bytes(anchor)
                out[anchor] = (key_id, AESGCM(self._unwrap(anchor, bytes(wrapped))))
        return out

    # ------------------------------------------------------------------------------------ reading

    def prefetch(self, conn: Connection, key_ids: Iterable[int]) -> None:
        """Load the keys of ``key_ids`` not cached yet, in few queries (bulk readers call this per chunk)."""
        missing = sorted({k for k in key_ids if k not in self._cache})
        t = subject_keys
        for i in range(0, len(missing), SQLITE_MAX_KEYS):
            rows = conn.execute(select(t.c.id, t.c.anchor, t.c.wrapped)
                                .where(t.c.id.in_(missing[i:i + SQLITE_MAX_KEYS]))).all()
            for key_id, anchor, wrapped in rows:
                self._remember(key_id, AESGCM(self._unwrap(bytes(anchor), bytes(wrapped))))

    def aead(self, key_id: int) -> AESGCM:
        """The cipher of key ``key_id``; :class:`SubjectKeyGone` when the key was destroyed."""
        aead = self._cache.get(key_id)
        if aead is not None:
            return aead
        if self._engine is not None:
            with self._engine.connect() as conn:
                self.prefetch(conn, [key_id])
        aead = self._cache.get(key_id)
        if aead is None:
            raise SubjectKeyGone(f"data key {key_id} was destroyed: its person was erased")
        return aead

    # ------------------------------------------------------------------------------------ destroying

    def shred(self, conn: Connection, key_ids: Iterable[int]) -> int:
        """Destroy keys ``key_ids`` in the caller's transaction; returns how many existed."""
        ids = sorted(set(key_ids))
        destroyed = 0
        for i in range(0, len(ids), SQLITE_MAX_KEYS):
            chunk = ids[i:i + SQLITE_MAX_KEYS]
            destroyed += conn.execute(delete(subject_keys).where(subject_keys.c.id.in_(chunk))).rowcount
        for key_id in ids:
            self._cache.pop(key_id, None)
        return destroyed


def erased_among(conn: Connection, linkage_keys: set[bytes]) -> set[bytes]:
    """Those of ``linkage_keys`` whose persons were erased at their request (ingest stores them no more)."""
    t, ordered, out = erased_subjects, sorted(linkage_keys), set()
    for i in range(0, len(ordered), SQLITE_MAX_KEYS):
        rows = conn.execute(select(t.c.linkage_key).where(t.c.linkage_key.in_(ordered[i:i + SQLITE_MAX_KEYS])))
        out.update(bytes(k) for k in rows.scalars())
    return out


def rotate_wrapping_key(keyring: Keyring, engine: Engine, *, batch: int = 5000) -> tuple[Keyring, int]:
    """Wrap every person's data key under a new subject wrapping key, then forget the old ones: backups
    taken before can no longer unwrap the keys of persons erased since. Returns the new keyring and the
    number of keys re-wrapped. Safe to re-run after a crash (keys already re-wrapped are skipped)."""
    new_id = max(keyring.subject_wraps) + 1
    ring = keyring.with_subject_wraps({**keyring.subject_wraps, new_id: AESGCM.generate_key(256)})
    keys = SubjectKeys(ring)
    t, done, last = subject_keys, 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(select(t.c.id, t.c.anchor, t.c.wrapped).where(t.c.id > last)
                                .order_by(t.c.id).limit(batch)).all()
            if not rows:
                break
            for key_id, anchor, wrapped in rows:
                anchor, wrapped = bytes(anchor), bytes(wrapped)
                if _WRAP_HEADER.unpack_from(wrapped)[0] != new_id:
                    conn.execute(update(t).where(t.c.id == key_id)
                                 .values(wrapped=keys._wrap(anchor, keys._unwrap(anchor, wrapped))))
                    done += 1
            last = rows[-1][0]
    return ring.with_subject_wraps({new_id: ring.subject_wraps[new_id]}), done

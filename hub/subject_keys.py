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

from hub.db.bulk import bulk_insert, key_chunks
from hub.db.schema import erased_subjects as erased
from hub.db.schema import subject_keys
from hub.errors import KeyringError
from hub.keys import Keyring

ANCHOR_BYTES = 16
_WRAP_HEADER = struct.Struct(">H")
_NONCE = 12
_WRAPPED_BYTES = _WRAP_HEADER.size + _NONCE + 32 + 16  # header, nonce, key, tag


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
        found = {anchor: (key_id, AESGCM(self._unwrap(anchor, wrapped)))
                 for key_id, anchor, wrapped in self._by_anchor(conn, wanted, wrapped=True)}
        new = {a: AESGCM.generate_key(256) for a in wanted if a not in found}
        if new:
            rows = [(a, self._wrap(a, key)) for a, key in new.items()]
            found.update((anchor, (key_id, AESGCM(new[anchor]))) for key_id, anchor in self._insert(conn, rows))
        return found

    def _insert(self, conn: Connection, rows: list[tuple[bytes, bytes]]) -> list[tuple[int, bytes]]:
        """Store wrapped keys; their (id, anchor). On PostgreSQL one statement with the keys as two
        blobs cut up on the server; on SQLite a bulk insert, then the ids looked up."""
        now = dt.datetime.now(dt.UTC)
        if conn.dialect.name != "postgresql":
            bulk_insert(conn, subject_keys, ("anchor", "wrapped", "created_at"), [(a, w, now) for a, w in rows])
            return [(key_id, anchor) for key_id, anchor in self._by_anchor(conn, [a for a, _ in rows])]
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(
            "INSERT INTO subject_keys (anchor, wrapped, created_at) SELECT"
            f" substring(%s::bytea FROM i * {ANCHOR_BYTES} + 1 FOR {ANCHOR_BYTES}),"
            f" substring(%s::bytea FROM i * {_WRAPPED_BYTES} + 1 FOR {_WRAPPED_BYTES}), %s"
            " FROM generate_series(0, %s - 1) AS i RETURNING id, anchor",
            (b"".join(a for a, _ in rows), b"".join(w for _, w in rows), now, len(rows)), binary=True)
        out = [(key_id, bytes(anchor)) for key_id, anchor in cursor.fetchall()]
        cursor.close()
        return out

    @staticmethod
    def _by_anchor(conn: Connection, anchors: list[bytes], *, wrapped: bool = False) -> list[tuple]:
        """(id, anchor[, wrapped key]) of the stored keys of ``anchors``, as bytes: one array lookup on
        PostgreSQL, chunks of bound parameters on SQLite."""
        columns = "id, anchor, wrapped" if wrapped else "id, anchor"
        if conn.dialect.name == "postgresql":
            if not anchors:
                return []
            cursor = conn.connection.driver_connection.cursor()
            # The anchors travel as one bytea, cut up on the server (a list parameter of thousands of
            # values costs more to send than the lookup). Within a large ingest the table grows inside one
            # transaction, unseen by the planner's statistics, which then scans it whole per batch: the
            # unique index is always the right path for a batch of keys.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"SELECT {columns} FROM subject_keys WHERE anchor IN (SELECT substring(%s::bytea "
                           f"FROM i * {ANCHOR_BYTES} + 1 FOR {ANCHOR_BYTES}) FROM generate_series(0, %s - 1) AS i)",
                           (b"".join(anchors), len(anchors)), binary=True)
            rows = cursor.fetchall()
            cursor.execute("SET LOCAL enable_seqscan = on")
            cursor.close()
            return [(row[0], *(bytes(v) for v in row[1:])) for row in rows]
        else:
            chunks = [(f"SELECT {columns} FROM subject_keys WHERE anchor IN ({', '.join('?' * len(part))})",
                       tuple(part)) for part in key_chunks(anchors)]
        out = []
        for sql, params in chunks:
            out.extend((row[0], *(bytes(v) for v in row[1:])) for row in conn.exec_driver_sql(sql, params))
        return out

    # ------------------------------------------------------------------------------------ reading

    def prefetch(self, conn: Connection, key_ids: Iterable[int]) -> None:
        """Load the keys of ``key_ids`` not cached yet, in few queries (bulk readers call this per chunk)."""
        missing = sorted({k for k in key_ids if k not in self._cache})
        t = subject_keys
        for chunk in key_chunks(missing):
            rows = conn.execute(select(t.c.id, t.c.anchor, t.c.wrapped).where(t.c.id.in_(chunk))).all()
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
        for chunk in key_chunks(ids):
            destroyed += conn.execute(delete(subject_keys).where(subject_keys.c.id.in_(chunk))).rowcount
        for key_id in ids:
            self._cache.pop(key_id, None)
        return destroyed


def erased_subjects(conn: Connection) -> set[bytes]:
    """The linkage keys of every person erased at their request (ingest stores them no more). The set
    is small: one per erasure request."""
    return {bytes(k) for k in conn.execute(select(erased.c.linkage_key)).scalars()}


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

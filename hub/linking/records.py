"""The stored records as linking sees them: keys and coarse facts (no decryption), and
the identities (names, birth date) decrypted only for the records a run compares."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Connection

from hub.crypto import FieldCipher, aad, subject_key_id
from hub.db.bulk import key_chunks
from hub.db.engine import make_engine
from hub.db.schema import LINKED_RECORDS_SQL
from hub.errors import HubError
from hub.keys import Keyring
from hub.linking.names import normal_form, phonetic_keys
from hub.subject_keys import SubjectKeyGone, SubjectKeys

#: What linking reads of a record without decrypting anything: keys and clear coarse facts (``{guardian}``:
#: :data:`_GUARDIAN` of the dialect).
KEY_COLUMNS = (
    "t.id", "t.source", "t.record_id", "t.household_ref", "l.person_id", "l.household_id", "t.linkage_key",
    "t.id_status", "t.id_variants", "{guardian}", "t.sex", "t.birth_year", "t.tambon_code", "t.house_key",
    "t.first_name_block", "t.full_name_block", "t.address_block", "t.created_run_id", "t.run_id",
)
_IDENTITY_COLUMNS = ("id", "source", "record_id", "first_name_enc", "last_name_enc", "birth_date_enc")
_ONE_BYTE_THAI = {cp: 0x21 + cp - 0x0E01 for cp in range(0x0E01, 0x0E5C)}


@dataclass(slots=True)
class KeyRow:
    """One stored record's keys and coarse facts. ``valid_key`` is the linkage key only when the ID passed
    its check; ``any_key`` whatever ID was written."""

    pk: int
    source: str
    record_id: str
    household_ref: str | None
    person_id: str
    household_id: str
    any_key: bytes | None
    valid_key: bytes | None
    variants: bytes | None  # the ID's variant hashes, 8 bytes each (hub.linking.candidate_keys)
    guardian_key: bytes | None
    sex: str | None
    birth_year: int | None
    tambon_code: str
    house_key: bytes | None
    first_name_block: int | None
    full_name_block: int | None
    address_block: int | None
    created_run_id: int
    run_id: int


class Identity(NamedTuple):
    """A record's name and birth date, decrypted (in memory only, never stored). Built from a plain
    tuple in this order where many cross a process boundary."""

    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    birth_month: int | None
    birth_day: int | None


#: The keyed ID of an EEF student's guardian (hex, in ``linked_keys``), read by the database.
_GUARDIAN = {"postgresql": "t.linked_keys ->> 'guardian'", "sqlite": "json_extract(t.linked_keys, '$.guardian')"}


def load_keys(conn: Connection, where: str = "", params: tuple = ()) -> list[KeyRow]:
    """The :class:`KeyRow` of every stored record (of those matching the SQL condition ``where``, over
    :data:`hub.db.schema.LINKED_RECORDS_SQL`), in primary-key order. Read through the driver; of the JSON
    column, the database reads out only the guardian's key (EEF)."""
    # sorted here, not by the query: an ORDER BY would tempt SQLite to walk the whole table in id order
    # instead of using the index the condition names
    columns = ", ".join(KEY_COLUMNS).format(guardian=_GUARDIAN[conn.dialect.name])
    query = f"SELECT {columns} FROM {LINKED_RECORDS_SQL} {'WHERE ' + where if where else ''}"
    rows = []
    as_bytes = bytes_reader(conn)
    cursor = conn.exec_driver_sql(query, params)
    while batch := cursor.fetchmany(20000):
        for (pk, source, rid, ref, pid, hid, key, status, variants, guardian, sex, year, tambon, house, b1, b2, b3,
             created, run) in batch:
            key = as_bytes(key)
            rows.append(KeyRow(pk, source, rid, ref, pid, hid, key, key if status == "valid" else None,
                               as_bytes(variants), bytes.fromhex(guardian) if guardian else None,
                               sex, year, tambon, as_bytes(house), b1, b2, b3, created, run))
    rows.sort(key=attrgetter("pk"))
    return rows


def bytes_reader(conn: Connection) -> Callable[[object], bytes | None]:
    """What turns the driver's value of a binary column into ``bytes`` (or ``None``)."""
    return _bytes if conn.dialect.name == "postgresql" else _same


def _bytes(value: memoryview | None) -> bytes | None:
    """psycopg returns ``bytea`` as ``memoryview``; keys must be hashable ``bytes``."""
    return bytes(value) if value is not None else None


def _same(value: bytes | None) -> bytes | None:
    return value


@lru_cache(maxsize=262144)
def comparison_form(name: str | None) -> str | None:
    """The name's normal form with each Thai letter as one ASCII byte (U+0E01.. -> ``!``..), so that the
    byte-wise string similarities of DuckDB compare letters, not the three UTF-8 bytes of each."""
    form = normal_form(name)
    return form.translate(_ONE_BYTE_THAI) if form is not None else None


def _parse_birth(text: str | None) -> tuple[dt.date | None, int | None, int | None]:
    """(full date or None, month, day) from the stored ``yyyy[-mm[-dd]]``."""
    if not text:
        return None, None, None
    parts = [int(p) for p in text.split("-")]
    month = parts[1] if len(parts) > 1 else None
    day = parts[2] if len(parts) > 2 else None
    return (dt.date(*parts) if day else None), month, day


def load_identities(conn: Connection, cipher: FieldCipher, pks: Sequence[int] | None) -> dict[int, Identity]:
    """Decrypt the names and birth dates of the records ``pks`` (all records when ``None``)."""
    columns = ", ".join(f"t.{c}" for c in _IDENTITY_COLUMNS)
    if pks is None:
        batches = [conn.exec_driver_sql(f"SELECT {columns} FROM source_records t")]
    elif conn.dialect.name == "postgresql":
        batches = [conn.exec_driver_sql(
            f"SELECT {columns} FROM unnest(%s::bigint[]) AS k(id) JOIN source_records t ON t.id = k.id", (list(pks),))]
    else:
        batches = [conn.exec_driver_sql(
            f"SELECT {columns} FROM source_records t WHERE t.id IN ({', '.join('?' * len(chunk))})", tuple(chunk))
            for chunk in key_chunks(pks)]
    out = {}
    for cursor in batches:
        while chunk := cursor.fetchmany(20000):
            out.update(zip((row[0] for row in chunk), map(Identity._make, _decrypt_chunk(conn, cipher, chunk))))
    return out


def _decrypt_chunk(conn: Connection, cipher: FieldCipher, chunk: Sequence[tuple]) -> list[tuple]:
    """The :class:`Identity` fields, as plain tuples, of rows of :data:`_IDENTITY_COLUMNS`, their persons'
    keys fetched in one go. A person erased at their request decrypts to nothing."""
    cipher.subjects.prefetch(conn, {subject_key_id(blob) for row in chunk for blob in row[3:]} - {None})
    out = []
    for _, source, rid, first, last, born in chunk:
        try:
            out.append((cipher.decrypt(first, aad("source_records", source, rid, "first_name")),
                        cipher.decrypt(last, aad("source_records", source, rid, "last_name")),
                        *_parse_birth(cipher.decrypt(born, aad("source_records", source, rid, "birth_date")))))
        except SubjectKeyGone:
            out.append((None, None, None, None, None))
    return out


def _decrypt_share(database_url: str, keys_dir: str, share: int, shares: int, send) -> None:
    """In a spawned process: the id and :func:`name_features` of every record whose id is ``share``
    modulo ``shares``, decrypted and sent in chunks over ``send``, then ``None``. A failure is sent as its
    type's name only (its text might quote a value)."""
    try:
        keyring = Keyring.load(Path(keys_dir))
        engine = make_engine(database_url)
        cipher = FieldCipher(keyring, SubjectKeys(keyring, engine))
        try:
            with engine.connect() as conn, engine.connect() as keys_conn:
                remainder = f"mod(id, {shares})" if conn.dialect.name == "postgresql" else f"id % {shares}"
                cursor = conn.exec_driver_sql(f"SELECT {', '.join(_IDENTITY_COLUMNS)} FROM source_records "
                                              f"WHERE {remainder} = {share}")  # psycopg takes % for a parameter
                while chunk := cursor.fetchmany(20000):
                    send.send(([row[0] for row in chunk],
                               [name_features(person) for person in _decrypt_chunk(keys_conn, cipher, chunk)]))
        finally:
            engine.dispose()
        send.send(None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent by type
        send.send(type(exc).__name__)
    finally:
        send.close()


class BackgroundDecryption:
    """Decrypts every record's identity, and makes its :func:`name_features`, while the caller works:
    ``workers`` *spawned* processes (not forked: forking a process that runs threads, DuckDB's among them,
    can deadlock the child), each with its own connection and keyring and a share of the records, drained
    by one thread each. Nothing touches a disk: the clear values cross pipes between the processes.
    Decryption is the longest part of a full run's start, so it takes both cores while the caller's own
    work (keys, the deterministic stage) shares them. Use as a context manager; :meth:`result` waits for
    the outcome."""

    def __init__(self, database_url: str, keys_dir: Path, *, workers: int = 2):
        context = multiprocessing.get_context("spawn")
        self._failure: list[Exception] = []
        self._workers, self._receivers, self._threads, self._shares = [], [], [], []
        for share in range(workers):
            receive, send = context.Pipe(duplex=False)
            worker = context.Process(target=_decrypt_share, args=(database_url, str(keys_dir), share, workers, send),
                                     daemon=True, name=f"saphan-link-decrypt-{share}")
            worker.start()
            send.close()
            out: dict[int, tuple] = {}
            thread = threading.Thread(target=self._drain, args=(receive, out), name=f"saphan-link-drain-{share}",
                                      daemon=True)
            thread.start()
            self._workers.append(worker)
            self._receivers.append(receive)
            self._threads.append(thread)
            self._shares.append(out)

    def _drain(self, receive, out: dict[int, tuple]) -> None:
        try:
            while (item := receive.recv()) is not None:
                if isinstance(item, str):
                    self._failure.append(HubError(f"decrypting the identities failed ({item})"))
                    return
                out.update(zip(*item))
        except EOFError:
            self._failure.append(HubError("the decrypting process died"))

    def result(self) -> dict[int, tuple]:
        """Record id -> its :func:`name_features`, once every record is decrypted."""
        for thread in self._threads:
            thread.join()
        if self._failure:
            raise self._failure[0]
        merged = self._shares[0]
        for share in self._shares[1:]:
            merged.update(share)
        return merged

    def __enter__(self) -> BackgroundDecryption:
        return self

    def __exit__(self, *exc_info) -> None:
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for receive in self._receivers:
            receive.close()


def name_features(person: Identity | tuple) -> tuple:
    """The columns of a comparison row that come from a decrypted identity: names in comparison form, their
    phonetic keys, birth month, day and date (the costly part of a row, made where it is decrypted)."""
    first, last, born, month, day = person
    return (comparison_form(first), comparison_form(last), *phonetic_keys(first), *phonetic_keys(last),
            month, day, born)


def feature_row(key: KeyRow, names: tuple, near_group: int | None, dirty: bool) -> tuple:
    """One row of the comparison frame, in :data:`FEATURE_COLUMNS` order, from the record's keys and its
    :func:`name_features`."""
    fn, ln, fn_lk, fn_ps, ln_lk, ln_ps, month, day, born = names
    tambon = key.tambon_code
    return (
        key.pk, fn, ln, fn_lk, fn_ps, ln_lk, ln_ps, key.birth_year, month, day, born, key.sex, tambon, tambon[:4],
        tambon[:2], key.house_key.hex() if key.house_key else None, key.any_key.hex() if key.any_key else None,
        key.valid_key.hex() if key.valid_key else None, near_group, dirty,
    )


FEATURE_COLUMNS = (
    "unique_id", "fn", "ln", "fn_lk", "fn_ps", "ln_lk", "ln_ps", "byear", "bmonth", "bday", "dob", "sex", "tambon",
    "amphoe", "province", "house", "id_any", "id_valid", "near", "dirty",
)

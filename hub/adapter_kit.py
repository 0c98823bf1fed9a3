"""The one module adapter authors import from.

Everything an adapter needs: the ``hookimpl`` marker, the :class:`Adapter` base, the record types it
yields, the Thai parsing rules and readers for delimited and NDJSON files that turn a bad row into a
:class:`Rejected` item instead of an exception. Anything not re-exported here is private to the hub.
"""
from __future__ import annotations

import abc
import copy
import csv
import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pluggy
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.errors import AdapterError, ConfigurationError, RecordError
from hub.nul import NUL, holds_nul
from hub.records import Household, Item, PersonRecord, Rejected, SourceRecord, Tombstone
from hub.sync.partner_http import PartnerClient
from hub.thai.areas import is_known_tambon, parse_moo, parse_tambon_code
from hub.thai.citizen_id import CitizenId, IdStatus, parse_citizen_id
from hub.thai.dates import PartialDate, parse_be_dmy, parse_iso_date, parse_ymd
from hub.thai.indicators import DIMENSIONS, crosswalk, dimensions_failed
from hub.thai.names import parse_name

__all__ = [
    "DIMENSIONS", "IDENTITY_FIELDS", "NUL_REASON", "Adapter", "AdapterError", "CitizenId", "Household", "IdStatus",
    "Item",
    "PartialDate", "crosswalk", "dimensions_failed",
    "PersonRecord", "RecordError", "Rejected", "SourceRecord", "Tombstone", "hookimpl",
    "is_known_tambon", "iter_delimited", "iter_ndjson", "make_person", "parse_be_dmy",
    "parse_citizen_id", "parse_iso_date", "parse_moo", "parse_tambon_code", "parse_ymd",
    "require", "optional_str", "parse_address", "parse_house_code", "parse_int", "parse_members",
    "parse_sex", "parse_timestamp", "person_from_member", "Page", "PartnerClient",
]

hookimpl = pluggy.HookimplMarker("saphan")


#: The identity and address fields every person-bearing adapter yields.
IDENTITY_FIELDS = {
    "citizen_id": "13-digit citizen ID (kept only as a keyed linkage key)",
    "title": "name title (นาย, นาง...)",
    "first_name": "first name",
    "last_name": "surname",
    "birth_date": "date of birth",
    "sex": "sex (M/F)",
    "tambon_code": "6-digit DOPA tambon code (required: the hub places every record by it)",
    "moo": "village number",
    "house_code": "11-digit DOPA house registration number",
    "house_no": "house number as written",
}


class AdapterOptions(BaseModel):
    """Base of an adapter's typed options: subclass it with a field per setting a partner may change
    (give each a default where one is sensible). Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Adapter(abc.ABC):
    """One partner system's format. Subclasses set the class attributes and implement ``read_file``."""

    #: The SOURCE name used on the command line and in the database (``[a-z_]+``).
    name: ClassVar[str]
    #: Human-readable name of the partner system.
    title: ClassVar[str]
    #: What ``source_record_id`` means for this source.
    record_id_doc: ClassVar[str]
    #: Every field the adapter can yield, by name, with what it holds: the names a contract lists in the
    #: fields the hub may take (identity fields, ``attributes`` and ``private`` keys, ``<key>_citizen_id``
    #: for a linked ID). Start from :data:`IDENTITY_FIELDS`.
    fields: ClassVar[Mapping[str, str]]
    #: The settings a deployment may give this adapter, as ``[SOURCE.options]`` in ``sources.toml``
    #: (an encoding, a delimiter...); read them from :attr:`options`. None by default.
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions

    def configured(self, values: Mapping[str, Any]) -> Adapter:
        """A copy of this adapter whose :attr:`options` are ``values``, checked against :attr:`Options`;
        raises :class:`ConfigurationError` naming each wrong or missing option."""
        try:
            options = self.Options.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"{self.name} options: {problems}") from None
        clone = copy.copy(self)
        clone._options = options
        return clone

    @property
    def options(self) -> AdapterOptions:
        """The options this adapter was :meth:`configured` with (the defaults when it was not)."""
        return self.__dict__.get("_options") or self.configured({})._options

    @abc.abstractmethod
    def read_file(self, path: Path) -> Iterator[Item]:
        """Yield one item per row or line of ``path``, in file order.

        Raise :class:`AdapterError` only when the file cannot be read at all (missing, wrong header);
        a bad row is yielded as :class:`Rejected`, never raised, so the rest of the file goes in.
        """

    def fetch_page(self, client: PartnerClient, *, since: str | None, token: str | None,
                   page_size: int) -> Page:
        """One page of what changed at the partner since ``since`` (``None``: everything), starting at
        ``token`` (``None``: the first page). Adapters of partners with an API override it; the hub stores
        each page as an NDJSON file of its items, which :meth:`read_file` must read. ``client`` retries
        rate limits and outages itself; raise :class:`AdapterError` for an answer of the wrong shape."""
        raise AdapterError(f"{self.name} has no API to pull from; deliver its files to an inbox or upload them")

    @classmethod
    def pulls(cls) -> bool:
        """Whether the partner has an API the hub pulls from (the adapter overrides :meth:`fetch_page`)."""
        return cls.fetch_page is not Adapter.fetch_page


@dataclass(frozen=True)
class Page:
    """A page of a partner's API: its items (as the API gives them), the token of the next page (``None``
    on the last) and the greatest change time among the items (ISO-8601; ``None`` for an empty page)."""

    items: list[dict[str, Any]]
    next_token: str | None
    high_water: str | None


# --------------------------------------------------------------------------------------------------
# Field rules
# --------------------------------------------------------------------------------------------------


def optional_str(value: Any, *, field: str = "value") -> str | None:
    """A stripped string (a number is written out), or ``None`` when blank or absent; a list, an object
    or true/false is a :class:`RecordError` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, (bool, list, dict)):
        raise RecordError(f"{field}: expected text, found {type(value).__name__}")
    text = str(value).strip()
    return text or None


def require(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    """``obj[key]``, present, non-blank and of ``kind``; otherwise a :class:`RecordError`."""
    if key not in obj or obj[key] is None or (isinstance(obj[key], str) and not obj[key].strip()):
        raise RecordError(f"{key}: required field is missing or blank")
    value = obj[key]
    if kind is not bool and isinstance(value, bool) and (kind is int or kind is float):
        raise RecordError(f"{key}: expected a number, found true/false")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecordError(f"{key}: expected {names}, found {type(value).__name__}")
    return value.strip() if isinstance(value, str) else value


def parse_int(value: Any, *, field: str, minimum: int | None = None, blank_ok: bool = True) -> int | None:
    """An integer (``"12"`` or ``12``); ``None`` when blank and ``blank_ok``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if blank_ok:
            return None
        raise RecordError(f"{field}: required number is blank")
    if isinstance(value, bool):
        raise RecordError(f"{field}: expected a whole number, found true/false")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RecordError(f"{field}: expected a whole number") from None
    if minimum is not None and number < minimum:
        raise RecordError(f"{field}: {number} is below the minimum {minimum}")
    return number


def parse_house_code(value: Any, *, flags: list[str], field: str = "house_code") -> str | None:
    """An 11-digit DOPA house number with separators removed; kept but flagged when malformed."""
    text = optional_str(value, field=field)
    if text is None:
        return None
    digits = text.replace("-", "").replace(" ", "")
    if len(digits) != 11 or not digits.isdigit():
        flags.append(f"{field}_malformed")
        return text
    return digits


_SEX = {"M": "M", "F": "F", "1": "M", "2": "F", "m": "M", "f": "F"}


def parse_sex(value: Any, *, field: str = "sex", blank_ok: bool = True) -> str | None:
    """``M`` or ``F`` from ``M``/``F`` or TPMAP's ``1``/``2``."""
    text = optional_str(value, field=field)
    if text is None:
        if blank_ok:
            return None
        raise RecordError(f"{field}: required, expected M or F")
    if text not in _SEX:
        raise RecordError(f"{field}: expected M/F or 1/2")
    return _SEX[text]


def make_person(record_id: str, *, citizen_id: str | None, title: str | None, first_name: str | None,
                last_name: str | None, birth_date: PartialDate | None, sex: str | None,
                flags: list[str], **extra: Any) -> PersonRecord:
    """A :class:`PersonRecord` with the common rules applied: ID normalised and checked, names
    cleaned, a glued title split off. ``flags`` collects what was noticed (invalid ID, glued title).
    """
    cid = parse_citizen_id(citizen_id)
    if cid is not None and cid.status is not IdStatus.VALID:
        flags.append(f"citizen_id_{cid.status.value}")
    title, first, last, title_as_written = parse_name(title, first_name, last_name, flags=flags)
    if not first and not last:
        raise RecordError("name: first and last name are both blank")
    private = extra.pop("private", {})
    if title_as_written:
        private = {**private, "title_as_written": title_as_written}
    return PersonRecord(record_id=record_id, citizen_id=cid, title=title, first_name=first,
                        last_name=last, birth_date=birth_date, sex=sex, flags=flags, private=private, **extra)


def person_from_member(record_id: str, member: Mapping[str, Any], *, flags: list[str],
                       attributes: dict[str, Any], era: str = "CE") -> PersonRecord:
    """A member object of the JSON formats (``citizen_id``, ``title``, ``first_name``, ``last_name``, an
    ISO ``birth_date`` in ``era``, ``sex``) as a :class:`PersonRecord`, via :func:`make_person`."""
    return make_person(
        record_id,
        citizen_id=optional_str(member.get("citizen_id"), field="citizen_id"),
        title=optional_str(member.get("title"), field="title"),
        first_name=optional_str(member.get("first_name"), field="first_name"),
        last_name=optional_str(member.get("last_name"), field="last_name"),
        birth_date=parse_ymd(member.get("birth_date"), field="birth_date", era=era, flags=flags),
        sex=parse_sex(member.get("sex")),
        flags=flags,
        attributes=attributes,
    )


# --------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------


def _open_text(path: Path, encoding: str = "utf-8-sig"):
    """Open as ``encoding`` (UTF-8 by default, a byte-order mark dropped); undecodable bytes surface per
    row, not per file."""
    try:
        return open(path, encoding=encoding, errors="surrogateescape", newline="")
    except OSError as exc:
        raise AdapterError(f"{path}: cannot open ({exc.strerror})") from exc


_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape


def _has_bad_bytes(text: str) -> bool:
    return _UNDECODED.search(text) is not None


#: Why a row holding U+0000 is quarantined (no stored field may hold one).
NUL_REASON = "the row holds a NUL character (U+0000), which no field may hold"


def _raw_text(text: str) -> str:
    """Raw input for quarantine, with undecodable bytes shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


#: A quoted field may span lines (RFC 4180), but a row longer than this is a quote that never closes.
MAX_LINES_PER_ROW = 20


def _opens_quoted_field(text: str, delimiter: str) -> bool:
    """True when ``text`` ends inside a quoted field (a field that starts with ``"`` and has not closed);
    a stray quote inside an unquoted field (``12"3``) does not count."""
    if text.count('"') % 2 == 0:
        return False
    try:
        for _ in csv.reader([text], delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _delimited_rows(handle, delimiter: str, rejected: list[Rejected]) -> Iterator[tuple[int, str]]:
    """Physical lines assembled into rows: ``(first line number, raw text)``.

    Lines are joined while a quoted field is open. When it is still open after :data:`MAX_LINES_PER_ROW`
    lines or at the end of the file, the first line alone is set aside in ``rejected`` (unterminated
    quote) and reading resumes on the line after it, so one stray quote costs one row, not the rest of
    the file.
    """
    pending: deque[tuple[int, str]] = deque()
    lines = enumerate(handle, start=1)

    def next_line():
        return pending.popleft() if pending else next(lines, None)

    while (first := next_line()) is not None:
        parts, text = [first], first[1]
        while (still_open := _opens_quoted_field(text, delimiter)) and len(parts) < MAX_LINES_PER_ROW \
                and (following := next_line()) is not None:
            parts.append(following)
            text += following[1]
        if still_open:
            rejected.append(Rejected(first[0], "unterminated quote: a quoted field opens on this line and "
                                     "never closes", _raw_text(first[1].rstrip("\r\n"))))
            pending.extendleft(reversed(parts[1:]))
            continue
        yield first[0], text


def _parsed(parse: Callable[[Any, int], Item], value: Any, line: int, raw: str) -> Item:
    """``parse(value, line)``, or a :class:`Rejected` item when it fails. A :class:`RecordError` gives its
    reason; any other error is a parser that met input it did not expect, named by type only (its
    message may quote personal data)."""
    try:
        return parse(value, line)
    except RecordError as exc:
        return Rejected(line, str(exc), raw)
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the file
        return Rejected(line, f"unreadable row: the parser failed with {type(exc).__name__}", raw)


class _FieldSplitter:
    """Splits one row's raw text into fields with a single long-lived csv reader (making a reader per
    row costs more than the split itself)."""

    def __init__(self, delimiter: str):
        self._delimiter = delimiter
        self._pending: list[str] = []
        self._reader = self._new_reader()

    def _new_reader(self):
        feed = iter(lambda: self._pending.pop() if self._pending else None, None)
        return csv.reader(feed, delimiter=self._delimiter)

    def __call__(self, raw: str) -> list[str]:
        self._pending.append(raw)
        try:
            return next(self._reader)
        except (StopIteration, csv.Error):  # start afresh; a row that still cannot be split has no fields
            self._pending.clear()
            self._reader = self._new_reader()
            try:
                return next(csv.reader([raw], delimiter=self._delimiter), [])
            except csv.Error:
                return []


def iter_delimited(path: Path, *, delimiter: str, columns: Sequence[str],
                   parse_row: Callable[[dict[str, str], int], Item], encoding: str = "utf-8-sig") -> Iterator[Item]:
    """Read a delimited file with one header row whose columns must include ``columns``, in ``encoding``
    (``"cp874"`` for the Thai Windows code page many agency exports still use).

    Each data row is checked for its field count and encoding, then handed to ``parse_row(row, line)``
    (``line`` is the 1-based physical line where the row starts). A :class:`RecordError` from it, a
    broken row or an unterminated quote becomes a :class:`Rejected` item. Extra columns are tolerated.
    """
    with _open_text(path, encoding) as handle:
        rejected: list[Rejected] = []
        rows = _delimited_rows(handle, delimiter, rejected)
        header_row = next(rows, None)
        if header_row is None:
            raise AdapterError(f"{path}: the file is empty or its header row is unreadable (expected a header row)")
        header = [h.strip() for h in next(csv.reader([header_row[1]], delimiter=delimiter))]
        missing = [c for c in columns if c not in header]
        if missing:
            raise AdapterError(f"{path}: header lacks the columns {', '.join(missing)} "
                               f"(is this the right source, and is the separator {delimiter!r}?)")
        width, split = len(header), _FieldSplitter(delimiter)
        for line, raw in rows:
            yield from rejected
            rejected.clear()
            if not raw.strip():
                continue
            raw = raw.rstrip("\r\n")
            fields = split(raw)
            if len(fields) != width:
                yield Rejected(line, f"broken row: expected {width} fields, found {len(fields)}", _raw_text(raw))
            elif _has_bad_bytes(raw):
                yield Rejected(line, f"row is not valid {'UTF-8' if encoding.startswith('utf-8') else encoding}",
                               _raw_text(raw))
            elif NUL in raw:
                yield Rejected(line, NUL_REASON, _raw_text(raw))
            else:
                yield _parsed(parse_row, dict(zip(header, fields)), line, raw)
        yield from rejected


def iter_ndjson(path: Path, parse_object: Callable[[dict[str, Any], int], Item]) -> Iterator[Item]:
    """Read NDJSON: one JSON object per line, blank lines skipped, unknown fields left to the parser.

    A line that is not valid UTF-8 or JSON, is not an object, or raises :class:`RecordError` in
    ``parse_object(obj, line)`` becomes a :class:`Rejected` item.
    """
    with _open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            if _has_bad_bytes(text):
                yield Rejected(line, "line is not valid UTF-8", _raw_text(text.rstrip("\r\n")))
                continue
            text = text.rstrip("\r\n")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Rejected(line, f"not valid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}", text)
                continue
            except RecursionError:
                yield Rejected(line, "not valid JSON: nested too deeply", text)
                continue
            if not isinstance(obj, dict):
                yield Rejected(line, f"expected a JSON object, found {type(obj).__name__}", text)
                continue
            if holds_nul(obj):
                yield Rejected(line, NUL_REASON, text)
                continue
            yield _parsed(parse_object, obj, line, text)


def parse_timestamp(value: Any, *, field: str) -> str:
    """An ISO-8601 timestamp with offset, returned in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` so that
    versions compare as strings."""
    import datetime as dt

    text = optional_str(value, field=field)
    if text is None:
        raise RecordError(f"{field}: required ISO-8601 timestamp is missing")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{field}: expected an ISO-8601 timestamp with offset") from None
    if moment.tzinfo is None:
        raise RecordError(f"{field}: timestamp has no UTC offset")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_address(obj: Mapping[str, Any], *, flags: list[str]) -> tuple[str, int | None, str | None]:
    """``address: {house_no, moo, tambon_code}`` of the NDJSON formats -> (tambon, moo, house_no)."""
    address = obj.get("address")
    if not isinstance(address, dict):
        raise RecordError("address: required object is missing")
    field = "address.tambon_code"
    tambon = parse_tambon_code(optional_str(address.get("tambon_code"), field=field), field=field)
    if not is_known_tambon(tambon):
        flags.append("tambon_unknown_to_geothai")
    moo = parse_moo(address.get("moo"), field="address.moo")
    return tambon, moo, optional_str(address.get("house_no"), field="house_no")


def parse_members(obj: Mapping[str, Any], parse_member: Callable[[dict[str, Any], int], PersonRecord]
                  ) -> list[PersonRecord]:
    """``members``: a non-empty list of objects, each parsed by ``parse_member(member, position)``
    (position 1-based); a member's error names its position."""
    members = obj.get("members")
    if not isinstance(members, list) or not members:
        raise RecordError("members: expected a non-empty list")
    persons = []
    for position, member in enumerate(members, start=1):
        if not isinstance(member, dict):
            raise RecordError(f"members[{position}]: expected an object")
        try:
            persons.append(parse_member(member, position))
        except RecordError as exc:
            raise RecordError(f"members[{position}].{exc}") from None
    ids = [p.record_id for p in persons]
    if len(set(ids)) != len(ids):
        raise RecordError("members: the same member appears twice")
    return persons

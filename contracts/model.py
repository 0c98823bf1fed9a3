"""The schema of a data-sharing contract (the MOU made machine-readable), as pydantic models.

A contract names its parties and the partner it serves; the fields the hub may take from each source;
its purposes, each with a lawful basis (PDPA); retention; and the views the partner receives. A view is
either aggregate (village ... nation: figures per area, cells below ``threshold`` suppressed, public views
with a differential-privacy budget) or microdata (person or household rows: each field kept, dropped,
pseudonymised, generalised or masked, k-anonymous on the declared quasi-identifiers).

Validation here is structural; :mod:`contracts.checks` checks a contract against what the hub knows
(adapters' fields, purposes, the figure and field catalogues).
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from consent.vocabulary import BASES, PARTNER_TYPES

AREA_LEVELS = ("village", "tambon", "amphoe", "province", "nation")
MICRODATA_LEVELS = ("person", "household")
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Strict):
    id: Name
    name: str = Field(min_length=1)
    role: Literal["hub", "provider", "recipient", "provider_and_recipient", "community"]


class Partner(_Strict):
    """Who receives this contract's views; ``partner:<id>`` and ``type:<type>`` in consent grants."""

    id: Name
    type: Literal[PARTNER_TYPES + ("community",)]  # type: ignore[valid-type]


class Purpose(_Strict):
    name: Name
    lawful_basis: str
    covers_sensitive: bool = False

    @model_validator(mode="after")
    def _known_basis(self) -> Purpose:
        if self.lawful_basis not in BASES:
            raise ValueError(f"lawful_basis {self.lawful_basis!r}: expected one of {', '.join(sorted(BASES))}")
        return self


class SourceTerms(_Strict):
    """What the hub may take from one source under this contract, and how long it may keep it."""

    fields: list[str] = Field(min_length=1)
    retention_days: int = Field(gt=0)
    #: When the hub syncs the source (``"every 6h"`` or a cron line in Thai time, :mod:`hub.sync.schedule`);
    #: none: only when asked (``hub sync``). Contracts naming one for the same source must agree.
    schedule: str | None = None
    #: For a source several partners provide (each university its own surveys): the household attribute
    #: and value that mark this partner's records, ``{university = "..."}``. The partner is concerned by
    #: and told of only those, and uploads only those; records no contract in force claims are not taken.
    own_records: dict[str, str] | None = Field(default=None, min_length=1, max_length=1)

    def owns(self, attributes: Mapping[str, Any] | None) -> bool:
        """Whether a record or unit with these household ``attributes`` is this partner's under these terms
        (always, when the terms mark no own records). Values compare as Unicode NFC, trimmed."""
        if self.own_records is None:
            return True
        return all(_mark((attributes or {}).get(name)) == _mark(value) for name, value in self.own_records.items())

    @field_validator("schedule")
    @classmethod
    def _schedule_reads(cls, value: str | None) -> str | None:
        if value is not None:
            from hub.sync.schedule import trigger

            trigger(value)
        return value


def claimants(owners: Mapping[str, SourceTerms], attributes: Mapping[str, Any] | None) -> set[str]:
    """Of ``owners`` (partner id -> its terms for a shared source), the partners whose own record a record
    or unit with these household ``attributes`` is."""
    return {partner for partner, terms in owners.items() if terms.owns(attributes)}


def _mark(value: Any) -> str | None:
    return unicodedata.normalize("NFC", str(value)).strip() if value is not None else None


class FieldRule(_Strict):
    """How one microdata field reaches the partner."""

    transform: Literal["keep", "drop", "pseudonymise", "generalise", "mask"]
    to: str | None = None  # generalise: the ladder level (``5y``, ``tambon``...)
    keep_chars: int | None = Field(default=None, ge=0)  # mask: leading characters left visible

    @model_validator(mode="after")
    def _arguments(self) -> FieldRule:
        if (self.transform == "generalise") != (self.to is not None):
            raise ValueError("'to' goes with transform = 'generalise', and only with it")
        if (self.transform == "mask") != (self.keep_chars is not None):
            raise ValueError("'keep_chars' goes with transform = 'mask', and only with it")
        return self


class Privacy(_Strict):
    """A public view's differential-privacy budget and the contribution bounds the noise relies on."""

    epsilon: float = Field(gt=0, le=10)  # spent by each release
    epsilon_total: float = Field(gt=0)  # over all releases; a publish that would exceed it is refused
    max_persons_per_household: int = Field(gt=0, le=50)  # person counts clip each household to this

    @model_validator(mode="after")
    def _total_covers_one_release(self) -> Privacy:
        if self.epsilon_total < self.epsilon:
            raise ValueError("epsilon_total is smaller than one release's epsilon")
        return self


class View(_Strict):
    name: Name
    title: str = Field(min_length=1)
    purpose: Name
    level: Literal[AREA_LEVELS + MICRODATA_LEVELS]  # type: ignore[valid-type]
    # aggregate views
    figures: list[Name] = []
    threshold: int = Field(default=5, ge=2, le=100)
    roll_up_small_villages: bool = True
    mpi_cutoff: int | None = Field(default=None, ge=1, le=5)  # deprived in at least this many dimensions
    public: bool = False
    privacy: Privacy | None = None
    # microdata views
    scope: list[Name] = []  # only persons (households) some of these sources know; empty: everyone
    fields: dict[str, FieldRule] = {}
    quasi_identifiers: list[str] = []
    k: int = Field(default=5, ge=2, le=100)
    max_suppression: float = Field(default=0.05, ge=0, le=0.05)
    # a community's own households, identified: served live to its stewards, where consent holds, never
    # published (consent.data_return)
    identified: bool = False

    @property
    def microdata(self) -> bool:
        return self.level in MICRODATA_LEVELS

    @model_validator(mode="after")
    def _shape(self) -> View:
        if self.identified:
            if self.level != "household" or self.purpose != "community_planning":
                raise ValueError("an identified view returns a community's households (level household, "
                                 "purpose community_planning)")
            return self
        if self.microdata:
            if self.figures or self.public or self.privacy or self.mpi_cutoff:
                raise ValueError("a microdata view has fields, not figures, mpi_cutoff, public or privacy")
            if not self.fields:
                raise ValueError("a microdata view lists its fields")
            unknown = [q for q in self.quasi_identifiers if q not in self.fields]
            if unknown:
                raise ValueError(f"quasi_identifiers {unknown} are not among the view's fields")
        else:
            if self.fields or self.quasi_identifiers or self.scope:
                raise ValueError("an aggregate view has figures, not fields, quasi_identifiers or scope")
            if not self.figures:
                raise ValueError("an aggregate view lists its figures")
            if self.public != (self.privacy is not None):
                raise ValueError("a public view declares its privacy budget, and only a public view does")
            if "mpi" in self.figures and self.mpi_cutoff is None:
                raise ValueError("the mpi figures need mpi_cutoff (the number of dimensions that makes a "
                                 "household poor)")
        return self


class NotifyTerms(_Strict):
    """The events the partner is sent webhooks for, and the fields those may carry (both from
    :mod:`hub.notify.catalogue`); the household comes as the partner's own pseudonym."""

    events: list[str] = Field(min_length=1)
    fields: list[str] = []

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        from hub.notify.catalogue import EVENT_KINDS

        if unknown := [e for e in value if e not in EVENT_KINDS]:
            raise ValueError(f"unknown event(s) {unknown}; known: {', '.join(EVENT_KINDS)}")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        from hub.notify.catalogue import FIELDS

        if unknown := [f for f in value if f not in FIELDS]:
            raise ValueError(f"unknown field(s) {unknown}; known: {', '.join(FIELDS)}")
        return value


class Contract(_Strict):
    """One data-sharing agreement."""

    id: Name
    title: str = Field(min_length=1)
    version: str = Field(min_length=1)
    signed_on: dt.date
    valid_until: dt.date
    parties: list[Party] = Field(min_length=2)
    partner: Partner
    purposes: list[Purpose] = Field(min_length=1)
    sources: dict[Name, SourceTerms] = {}
    views: list[View] = []
    notify: NotifyTerms | None = None  # webhooks the partner subscribes to (hub.notify)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        if self.valid_until < self.signed_on:
            raise ValueError("valid_until is before signed_on")
        purposes = {p.name for p in self.purposes}
        for view in self.views:
            if view.purpose not in purposes:
                raise ValueError(f"view {view.name}: purpose {view.purpose!r} is not one of the contract's "
                                 f"({', '.join(sorted(purposes))})")
            if view.identified and self.partner.type != "community":
                raise ValueError(f"view {view.name}: only a community's own contract returns identified data")
            if view.public and self.partner.type != "public":
                raise ValueError(f"view {view.name}: only a contract with a public partner publishes a public view")
        names = [v.name for v in self.views]
        if len(names) != len(set(names)):
            raise ValueError("two views share a name")
        if not self.sources and not self.views:
            raise ValueError("a contract takes data from a source, gives views, or both")
        return self

    def purpose(self, name: str) -> Purpose:
        return next(p for p in self.purposes if p.name == name)

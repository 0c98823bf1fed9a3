"""Exceptions a caller can catch precisely. Messages name the file, row and field, and what was expected."""
from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigurationError(HubError):
    """The hub is not set up as required (no keys, no schema, a bad setting)."""


class UnknownSource(HubError):
    """No registered adapter serves the source name given."""


class AdapterError(HubError):
    """An adapter cannot read an input at all (missing file, wrong encoding, wrong header)."""


class IngestError(HubError):
    """Storing a file failed part-way (a database error, say); nothing of it was stored."""


class RecordError(HubError, ValueError):
    """One record is malformed; it goes to quarantine with this message as its reason."""


class KeyringError(HubError):
    """Keys are missing, unreadable or do not decrypt."""


class AuditWriteError(HubError):
    """An audit event could not be appended; the operation it records must not go ahead."""


class ClearCitizenIdInAudit(HubError):
    """An audit event would hold a citizen ID in clear (a reason or note typed with one); the operation
    it records does not go ahead."""


class ContractViolation(HubError):
    """A contract is invalid, or an operation goes beyond what the contracts allow (a field no contract
    lets the hub take, a view no contract defines, a privacy budget spent)."""


class PublishError(HubError):
    """Building or switching a view version failed; the current version is still the one served."""

"""The running hub: settings, database, keys, plugins and audit log, opened together."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import pluggy
from sqlalchemy import Engine

from audit.chain import AuditLog
from audit.events import KeysCreated
from audit.group_commit import GroupCommit
from audit.hub_witness import FILE as WITNESS_FILE
from audit.hub_witness import HubWitness
from audit.status import VerificationStatus
from contracts.checks import check_contracts
from contracts.load import BUILT_IN, ContractSet, load_contracts
from hub.adapter_kit import Adapter
from hub.crypto import FieldCipher
from hub.db.durability import require_durable
from hub.db.engine import make_engine, schema_is_current, upgrade_to_head
from hub.errors import ConfigurationError, UnknownSource
from hub.keys import Keyring
from hub.plugins.manager import get_plugin_manager
from hub.settings import Settings
from hub.subject_keys import SubjectKeys
from hub.sync.access import load_access

SYSTEM_ACTOR = "system:hub"
ADAPTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def collect_adapters(pm: pluggy.PluginManager) -> dict[str, Adapter]:
    """Every adapter the plugins register, by name; a duplicate name is a configuration error."""
    adapters: dict[str, Adapter] = {}
    for registered in pm.hook.saphan_register_adapters():
        for adapter in registered:
            if not isinstance(adapter, Adapter):
                raise ConfigurationError(f"{adapter!r} is registered as an adapter but is not an Adapter")
            if not ADAPTER_NAME.match(adapter.name):
                raise ConfigurationError(f"adapter name {adapter.name!r} must be lower-case letters, digits and _")
            if adapter.name in adapters:
                raise ConfigurationError(f"two plugins register an adapter named {adapter.name!r}")
            adapters[adapter.name] = adapter
    return adapters


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    keyring: Keyring
    plugins: pluggy.PluginManager

    @classmethod
    def open(cls, settings: Settings | None = None, *, plugins: pluggy.PluginManager | None = None) -> Hub:
        """Open an initialised hub; raises :class:`ConfigurationError` pointing at ``hub init`` if not."""
        settings = settings or Settings()
        if not Keyring.exists(settings.resolved_keys_dir):
            raise ConfigurationError(f"no keys in {settings.resolved_keys_dir}; run `hub init` first")
        engine = make_engine(settings.resolved_database_url)
        require_durable(engine)
        if not schema_is_current(engine):
            raise ConfigurationError("the database schema is missing or out of date; run `hub init`")
        keyring = Keyring.load(settings.resolved_keys_dir)
        if missing := keyring.missing():
            raise ConfigurationError(f"the keyring lacks secrets added since it was made ({', '.join(missing)}); "
                                     "run `hub init`")
        return cls(settings, engine, keyring, plugins or get_plugin_manager())

    @classmethod
    def init(cls, settings: Settings | None = None, *, plugins: pluggy.PluginManager | None = None
             ) -> tuple[Hub, bool]:
        """Create keys and schema where missing (safe to repeat); returns the hub and whether keys were made."""
        settings = settings or Settings()
        settings.resolved_home.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        require_durable(engine)
        upgrade_to_head(engine)
        created = not Keyring.exists(settings.resolved_keys_dir)
        keyring = Keyring.create(settings.resolved_keys_dir) if created else Keyring.load(settings.resolved_keys_dir)
        keyring, added = keyring.completed()
        hub = cls(settings, engine, keyring, plugins or get_plugin_manager())
        if created or added:
            with engine.begin() as conn:
                hub.audit.append(conn, KeysCreated(resource="keys", kek_id=keyring.kek_id,
                                                   secrets=["the whole keyring"] if created else added),
                                 actor=SYSTEM_ACTOR)
        return hub, created

    @cached_property
    def adapters(self) -> dict[str, Adapter]:
        return collect_adapters(self.plugins)

    def adapter(self, source: str) -> Adapter:
        """``source``'s adapter with the options ``sources.toml`` gives it (:meth:`Adapter.configured`)."""
        try:
            adapter = self.adapters[source]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise UnknownSource(f"unknown source {source!r}; registered adapters: {known}") from None
        access = load_access(self.settings.resolved_sources_file).get(source)
        return adapter.configured(access.options if access else {})

    @cached_property
    def purposes(self) -> dict[str, str]:
        """Every purpose a consent may name: the core ones and those plugins declare."""
        declared = self.plugins.hook.saphan_register_purposes()
        return {name: text for purposes in declared for name, text in purposes.items()}

    @cached_property
    def contracts(self) -> ContractSet:
        """The contracts in force, validated against this hub's adapters and purposes."""
        contracts = load_contracts([self.settings.contracts_dir or BUILT_IN])
        check_contracts(contracts, adapters=self.adapters, purposes=self.purposes)
        return contracts

    @cached_property
    def audit(self) -> AuditLog:
        def signer():
            return self.keyring.signing_key("audit")

        return AuditLog((t for types in self.plugins.hook.saphan_register_event_types() for t in types),
                        signer=signer, witness=HubWitness(self.settings.resolved_keys_dir / WITNESS_FILE, signer),
                        every=self.settings.audit_checkpoint_every, seconds=self.settings.audit_checkpoint_seconds)

    @cached_property
    def audit_group(self) -> GroupCommit:
        """Appends events that commit alone (the records of reads) in shared transactions, for throughput."""
        return GroupCommit(self.engine, self.audit)

    @cached_property
    def audit_status(self) -> VerificationStatus:
        """Whether the log verifies, as auditors' requests see it (shared, at most a minute old)."""
        from audit.access import verify

        return VerificationStatus(lambda: verify(self))

    @cached_property
    def cipher(self) -> FieldCipher:
        return FieldCipher(self.keyring, SubjectKeys(self.keyring, self.engine))

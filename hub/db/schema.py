"""The hub's tables. Personal fields are ``*_enc`` (AES-GCM) or ``*_key`` (keyed HMAC); nothing here
holds a clear citizen ID or name. The migrations in ``migrations/versions`` create exactly this.

Indexes are only those today's queries use: each one costs every bulk insert. A stage that needs another
adds it in its own migration (incremental linking added the lookups of ``hub.linking.scope``)."""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

#: An auto-incrementing 64-bit key that SQLite also treats as its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

ingest_runs = Table(
    "ingest_runs", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("rows_read", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("stale", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("households_inserted", Integer, nullable=False, default=0),
    Column("households_updated", Integer, nullable=False, default=0),
    Column("erased", Integer, nullable=False, default=0),
    # the order in which completed runs committed (taken from ingest_clock as the run's last write)
    Column("committed", BigInteger),
)

#: One counter that a completing ingest run advances in its own transaction: the row stays locked until
#: that run commits, so ``ingest_runs.committed`` numbers runs in commit order (ids are in start order: on
#: PostgreSQL a run that started first may commit last).
ingest_clock = Table(
    "ingest_clock", metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

source_households = Table(
    "source_households", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("household_ref", Text, nullable=False),
    Column("household_id", String(32), nullable=False),
    Column("version", Text, nullable=False),
    # a tombstone: the source deleted the household; personal fields are gone, the row and its version
    # stay so that an older copy arriving later cannot bring the household back
    Column("deleted", Boolean, nullable=False, default=False),
    Column("tambon_code", String(6)),
    Column("moo", Integer),
    Column("house_key", LargeBinary(32)),
    Column("house_code_enc", LargeBinary),
    Column("house_no_enc", LargeBinary),
    Column("private_enc", LargeBinary),
    Column("attributes", Json, nullable=False),
    Column("flags", Json, nullable=False),
    Column("fingerprint", LargeBinary(16), nullable=False),
    Column("created_run_id", BigInteger, ForeignKey("ingest_runs.id"), nullable=False),
    Column("run_id", BigInteger, ForeignKey("ingest_runs.id"), nullable=False),
    Column("line", Integer, nullable=False),
    UniqueConstraint("source", "household_ref", name="uq_source_households_ref"),
)

source_records = Table(
    "source_records", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("record_id", Text, nullable=False),
    Column("household_ref", Text),
    Column("version", Text, nullable=False),
    Column("linkage_key", LargeBinary(32)),
    Column("id_status", String(16)),
    Column("linked_keys", Json, nullable=False),
    Column("title", String(20)),
    Column("sex", String(1)),
    Column("birth_year", Integer),
    Column("tambon_code", String(6), nullable=False),
    Column("moo", Integer),
    Column("house_key", LargeBinary(32)),
    # candidate keys for linking (hub.linking.candidate_keys): keyed, made at ingest
    Column("id_variants", LargeBinary),
    Column("first_name_block", BigInteger),
    Column("full_name_block", BigInteger),
    Column("address_block", BigInteger),
    Column("first_name_enc", LargeBinary),
    Column("last_name_enc", LargeBinary),
    Column("birth_date_enc", LargeBinary),
    Column("house_code_enc", LargeBinary),
    Column("house_no_enc", LargeBinary),
    Column("private_enc", LargeBinary),
    Column("attributes", Json, nullable=False),
    # what views count, taken out of the attributes at ingest (hub.record_facts)
    Column("fact_bits", Integer, nullable=False, server_default="0"),
    Column("fact_status", Text),
    Column("fact_grade", Text),
    Column("fact_vulnerabilities", Text),
    Column("flags", Json, nullable=False),
    Column("fingerprint", LargeBinary(16), nullable=False),
    Column("created_run_id", BigInteger, ForeignKey("ingest_runs.id"), nullable=False),
    Column("run_id", BigInteger, ForeignKey("ingest_runs.id"), nullable=False),
    Column("line", Integer, nullable=False),
    UniqueConstraint("source", "record_id", name="uq_source_records_record"),
    Index("ix_source_records_household", "source", "household_ref"),
    # incremental linking finds a delivery's candidates through these; the blocks carry id_status, so
    # that their records without a valid ID are found in the index alone (hub.linking.scope)
    Index("ix_source_records_first_name_block", "first_name_block", "id_status"),
    Index("ix_source_records_full_name_block", "full_name_block", "id_status"),
    Index("ix_source_records_address_block", "address_block"),
    Index("ix_source_records_tambon_year", "tambon_code", "birth_year", "id_status"),
    Index("ix_source_records_linkage_key", "linkage_key"),
    Index("ix_source_records_house_key", "house_key"),
    # what ingest runs wrote since a link run: ids sort by creation (hub.ids), so the index grows at one end
    Index("ix_source_records_run", "run_id"),
)

#: The person and household each source record is linked to: a provisional pair of its own from ingest,
#: then what each link run decides. Kept beside the records rather than in them, so that a run that
#: renumbers most of the store rewrites these narrow rows, not the wide encrypted ones (and their indexes).
record_links = Table(
    "record_links", metadata,
    Column("id", BigId, ForeignKey("source_records.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("person_id", String(32), nullable=False),
    Column("household_id", String(32), nullable=False),
    # whole persons and households: ids sort by creation (hub.ids), so these indexes grow at one end
    Index("ix_record_links_person", "person_id"),
    Index("ix_record_links_household", "household_id"),
)
#: The records beside their person and household ids, to select from; and the same in the driver's SQL,
#: as ``t`` (the record) and ``l`` (its link).
linked_records = source_records.join(record_links, record_links.c.id == source_records.c.id)


def linked_records_sql(record: str = "t", link: str = "l") -> str:
    """The records joined to their links in the driver's SQL, under the aliases given (a subquery inside a
    query that already uses ``t`` and ``l`` names its own)."""
    return f"source_records {record} JOIN record_links {link} ON {link}.id = {record}.id"


LINKED_RECORDS_SQL = linked_records_sql()

link_runs = Table(
    "link_runs", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("mode", String(16), nullable=False),  # full | incremental
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    # records written by ingest runs committed up to this one (ingest_runs.committed) were linked by this run
    Column("ingest_watermark", BigInteger, nullable=False),
    Column("counts", Json, nullable=False),
    # the trained match model (Splink settings with m and u): no personal data
    Column("model", Text),
)

#: Pairs the linker could not settle, and the decisions people made about them (which stick).
link_reviews = Table(
    "link_reviews", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_a", String(64), nullable=False),
    Column("record_id_a", Text, nullable=False),
    Column("source_b", String(64), nullable=False),
    Column("record_id_b", Text, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("match_probability", Float),
    Column("evidence", Json, nullable=False),
    Column("status", String(16), nullable=False),  # open | same | different
    Column("decided_by", String(200)),
    Column("decided_at", DateTime(timezone=True)),
    Column("basis", Text),
    Column("created_run_id", BigInteger, ForeignKey("link_runs.id"), nullable=False),
    Column("seen_run_id", BigInteger, ForeignKey("link_runs.id"), nullable=False),
    # the link run that applied the decision as it stands (none yet: the next run re-links its records)
    Column("applied_run_id", BigInteger, ForeignKey("link_runs.id")),
    UniqueConstraint("source_a", "record_id_a", "source_b", "record_id_b", name="uq_link_reviews_pair"),
)

#: A person or household id that linking retired (its records joined an older id): partners' pseudonyms
#: derived from the retired id can follow it to the current one.
id_redirects = Table(
    "id_redirects", metadata,
    Column("kind", String(16), primary_key=True),  # person | household
    Column("retired_id", String(32), primary_key=True),
    Column("current_id", String(32), nullable=False),
    Column("run_id", BigInteger, ForeignKey("link_runs.id"), nullable=False),
    # consent decisions about a retired id are found from the current one (consent.decisions)
    Index("ix_id_redirects_current", "current_id"),
)

#: Each person's own data key, wrapped by a key kept outside the database (hub.subject_keys). Deleting a
#: row destroys that person's data wherever its ciphertexts are (crypto-shredding).
subject_keys = Table(
    "subject_keys", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("anchor", LargeBinary(16), nullable=False, unique=True),  # keyed citizen ID, or keyed record
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, ForeignKey("ingest_runs.id"), nullable=False, index=True),
    Column("source", String(64), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("line", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw_enc", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: The hash-chained log (see :mod:`audit.chain`). Append-only: triggers refuse UPDATE and DELETE
#: (``audit.guards``). ``format`` 1 events (before the searchable columns) hash without them.
audit_events = Table(
    "audit_events", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("occurred_at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("format", Integer, nullable=False, server_default="1"),
    Column("role", String(32)),
    Column("partner", String(64)),
    Column("purpose", String(64)),
    Column("area", String(16)),
    Column("record_count", Integer),
    Column("request_id", String(64)),
)

#: Signed checkpoints of the chain's head (:mod:`audit.checkpoints`). Append-only.
audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", LargeBinary(32), nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("jws", Text, nullable=False),
)

#: Personal-data reads by village or tambon, one row per event and area, written with the event: the
#: index behind "who used our data" (each row repeats what its event's details say). Append-only.
audit_area_reads = Table(
    "audit_area_reads", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("area", String(16), primary_key=True),
    Column("records", Integer, nullable=False),
    Column("action", String(64), nullable=False),
    Column("partner", String(64)),
    Column("purpose", String(64)),
    Column("occurred_at", String(40), nullable=False),
    Index("ix_audit_area_reads_area", "area"),
)

#: One row: the chain's head. Appenders update it in their transaction, which serialises them.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
)

# ---------------------------------------------------------------------------------------------- consent

#: A community's registered data stewards (the village head, the tambon community council...).
community_stewards = Table(
    "community_stewards", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("community", String(9), nullable=False, index=True),  # TTTTTT (tambon) or TTTTTT-MM (village)
    Column("role", String(64), nullable=False),
    Column("name_enc", LargeBinary, nullable=False),
    Column("appointed_by", Text, nullable=False),  # the meeting or document that made them stewards
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("registered_by", String(200), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

#: Every consent decision: a grant, a refusal (opt-out), an objection or a pending request. Rows change
#: only by the lifecycle (given -> withdrawn...); each change leaves a receipt and an audit event.
consents = Table(
    "consents", metadata,
    Column("id", String(32), primary_key=True),
    # the audit sequence number of its latest change: orders decisions taking effect at the same instant
    Column("seq", BigInteger, nullable=False),
    Column("subject_kind", String(12), nullable=False),  # person | household | community
    Column("subject_ref", String(80), nullable=False),  # cid:<keyed id> | pid:<id> | hid:<id> | area code
    Column("purposes", Json, nullable=False),
    Column("recipients", Json, nullable=False),
    Column("sensitive", Boolean, nullable=False),  # explicit consent covering health and disability data
    Column("objection", Boolean, nullable=False),  # a PDPA s.32 objection, not only a refusal
    Column("status", String(12), nullable=False),
    Column("grantor", Json, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("origin", String(200), unique=True),  # an imported decision's source (idempotent re-import)
    Index("ix_consents_subject", "subject_ref"),
)

#: The signed receipt of every grant, refusal, withdrawal and expiry (a compact EdDSA JWS).
consent_receipts = Table(
    "consent_receipts", metadata,
    Column("id", String(32), primary_key=True),
    Column("consent_id", String(32), ForeignKey("consents.id"), nullable=False, index=True),
    Column("status", String(12), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("jws", Text, nullable=False),
)

#: Data-subject requests under the PDPA (access, rectification, erasure, objection) and their outcome.
subject_requests = Table(
    "subject_requests", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(12), nullable=False),
    Column("subject_ref", String(80), nullable=False),
    Column("status", String(12), nullable=False),  # open | done
    Column("details", Json, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("handled_by", String(200), nullable=False),
)

#: Citizen IDs (as linkage keys) whose holders had their data erased: ingest no longer stores them.
erased_subjects = Table(
    "erased_subjects", metadata,
    Column("linkage_key", LargeBinary(32), primary_key=True),
    Column("request_id", BigInteger, ForeignKey("subject_requests.id"), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# ------------------------------------------------------------------------------------ contracts and views

#: Every contract version the hub has acted under: the file's digest and its text (no personal data).
contracts = Table(
    "contracts", metadata,
    Column("contract_id", String(64), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("version", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
)

#: One build of one view. ``building`` until it is switched in; then exactly one ``current`` per view,
#: the few before it ``retired`` (kept for comparison), older ones deleted.
view_versions = Table(
    "view_versions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("view", String(64), nullable=False),
    Column("contract_id", String(64), nullable=False),
    Column("contract_sha256", String(64), nullable=False),
    Column("level", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("rows", Integer, nullable=False, default=0),
    Column("epsilon", Float),  # a public view's privacy spend
    Column("report", Json, nullable=False),  # what anonymisation did, consent exclusions, inputs
    Index("ix_view_versions_view_status", "view", "status"),
    sqlite_autoincrement=True,  # a version id, once given, never names another version
)

#: An aggregate view's figures per area (village, tambon ... nation).
view_cells = Table(
    "view_cells", metadata,
    Column("version_id", BigInteger, ForeignKey("view_versions.id"), primary_key=True),
    Column("area", String(16), primary_key=True),
    Column("level", String(8), nullable=False),
    Column("parent", String(16)),
    Column("figures", Json, nullable=False),  # measure -> value, or null where suppressed
)

#: A microdata view's rows: pseudonymised, generalised, k-anonymous. Stored once for every version of the
#: view that has it (copy-on-write, :mod:`hub.views.row_versions`): in the view's versions from
#: ``from_version`` up to, not including, ``to_version`` (null: up to the newest). Kept in area order (a
#: clustered key on SQLite), the order reads page through.
view_rows = Table(
    "view_rows", metadata,
    Column("view", String(64), primary_key=True),
    Column("area", String(16), primary_key=True),
    Column("row_key", String(64), primary_key=True),
    Column("from_version", BigInteger, primary_key=True),
    Column("to_version", BigInteger),
    Column("fields", Json, nullable=False),
    Column("home", String(16)),  # the unit's own village (never served): reads are counted by it
    Column("digest", BigInteger),  # of fields and home as written: finds the rows a version changes
    Index("ix_view_rows_closed", "view", "to_version", sqlite_where=text("to_version IS NOT NULL"),
          postgresql_where=text("to_version IS NOT NULL")),
    sqlite_with_rowid=False,
)

#: Where a source's pull stands: ``since`` is the greatest change time of its completed walks (asked for
#: as ``updated_since`` next), ``token`` the next page of the walk in progress (null between walks) and
#: ``walk_high`` the greatest change time stored in that walk. Written with each page's records.
source_cursors = Table(
    "source_cursors", metadata,
    Column("source", String(64), primary_key=True),
    Column("since", Text),
    Column("token", Text),
    Column("walk_high", Text),
    Column("pages", BigInteger, nullable=False, default=0),
    Column("items", BigInteger, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: One scheduled run of one job at one fire time; the unique pair is what keeps two schedulers from
#: running it twice. ``coalesced`` marks fire times missed while no scheduler ran, folded into the next run.
job_runs = Table(
    "job_runs", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job", String(96), nullable=False),
    Column("fire_time", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # running, succeeded, failed, coalesced, abandoned
    Column("holder", String(96), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("detail", Text),  # what failed, or what the run did
    UniqueConstraint("job", "fire_time", name="uq_job_runs_job_fire_time"),
    Index("ix_job_runs_job_status", "job", "status"),
)

#: Which process runs the scheduler: the holder renews ``expires_at``; another may take over after it.
scheduler_lease = Table(
    "scheduler_lease", metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(96), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

#: The outbox of partner webhooks (:mod:`hub.notify`): written in the transaction of the change it
#: announces, ``body`` is the exact JSON sent (built at enqueue, pseudonymised, contract-filtered). A row
#: goes ``pending`` -> ``delivered``, or ``dead`` after too many failures or a refusal.
notifications = Table(
    "notifications", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("partner", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("idempotency_key", String(32), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Index("ix_notifications_state_next_attempt", "state", "next_attempt_at"),
    sqlite_autoincrement=True,  # a notification id, once given, never names another
)

#: Where each partner receives its webhooks.
webhook_endpoints = Table(
    "webhook_endpoints", metadata,
    Column("partner", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("registered_by", String(96), nullable=False),
)

#: What a community's stewards found a household to be (:mod:`hub.community.verification`), newest last:
#: the newest per household outranks what the sources say in the views. Append-only history.
household_verifications = Table(
    "household_verifications", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("household_id", String(32), nullable=False, index=True),
    Column("community", String(9), nullable=False),
    Column("status", String(16), nullable=False),  # poor | not_poor | moved | deceased
    Column("steward_id", BigId, ForeignKey("community_stewards.id"), nullable=False),
    Column("evidence", Json, nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
)

#: Households referred to an agency (:mod:`hub.community.referrals`): from a university survey (its own
#: referral id in ``origin_ref``) or raised by a community's stewards. ``status`` only moves forward.
referrals = Table(
    "referrals", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("origin", String(32), nullable=False),  # university_survey | community
    Column("origin_ref", String(64), nullable=False),
    Column("household_id", String(32), nullable=False, index=True),
    Column("agency", String(32), nullable=False),  # as referred: MSDHS, DSD...
    Column("need", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # pending | accepted | done | rejected
    Column("referred_on", Date, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("origin", "origin_ref", name="uq_referrals_origin"),
    sqlite_autoincrement=True,
)

#: Every status a referral took: who moved it, when, and why.
referral_changes = Table(
    "referral_changes", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("referral_id", BigId, ForeignKey("referrals.id"), nullable=False, index=True),
    Column("old_status", String(12)),
    Column("new_status", String(12), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("note", Text, nullable=False),
)

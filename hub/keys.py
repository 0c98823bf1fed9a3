"""Keys, kept in files outside the database (``HUB_HOME/keys`` or ``HUB_KEYS_DIR``).

Envelope scheme: a random key-encryption key (KEK) in ``kek-<id>.key`` wraps, with AES-GCM, the
secrets listed in ``keyring.json``: data-encryption keys (DEKs) for personal fields, the linkage secret
(keyed HMACs of citizen IDs and house codes), the fingerprint secret (change detection), the subject
wrapping keys (which wrap each person's own data key, :mod:`hub.subject_keys`) and the hub's Ed25519
signing keys (one per use, :data:`SIGNING_KEYS`). Rotating the KEK re-wraps those secrets; no
stored ciphertext changes, and the old KEK file is removed.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import KeyringError

KEYRING_FILE = "keyring.json"
#: The hub's Ed25519 signing keys, by use: ``receipts`` signs consent receipts, ``tokens`` API tokens,
#: ``audit`` the audit log's checkpoints, ``webhooks`` the notifications sent to partners.
SIGNING_KEYS = ("receipts", "tokens", "audit", "webhooks")
_FORMAT = 1
_NONCE = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (fsync, then rename) with mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _wrap(kek: bytes, name: str, secret: bytes) -> str:
    nonce = os.urandom(_NONCE)
    return _b64(nonce + AESGCM(kek).encrypt(nonce, secret, f"saphan-key|{name}".encode()))


def _new_signing_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes_raw()


def _unwrap(kek: bytes, name: str, wrapped: str) -> bytes:
    blob = base64.b64decode(wrapped)
    try:
        return AESGCM(kek).decrypt(blob[:_NONCE], blob[_NONCE:], f"saphan-key|{name}".encode())
    except InvalidTag:
        raise KeyringError(f"key {name!r} does not unwrap with the current KEK (wrong or damaged key files)") from None


@lru_cache(maxsize=32)
def _public_half(private: bytes) -> Ed25519PublicKey:
    return Ed25519PrivateKey.from_private_bytes(private).public_key()


@dataclass(frozen=True, repr=False)
class Keyring:
    """The unwrapped secrets, in memory only; its repr shows no key material."""

    directory: Path
    kek_id: str
    active_dek: int
    deks: dict[int, bytes]
    linkage_secret: bytes
    fingerprint_secret: bytes
    signing: dict[str, bytes]  # use -> raw Ed25519 private key
    subject_wraps: dict[int, bytes]  # wraps per-person data keys; the highest is active

    def __repr__(self) -> str:
        return f"Keyring(directory={str(self.directory)!r}, kek_id={self.kek_id!r}, deks={sorted(self.deks)})"

    # ---------------------------------------------------------------- lifecycle

    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / KEYRING_FILE).is_file()

    @classmethod
    def create(cls, directory: Path) -> Keyring:
        """Make a new keyring in ``directory``; refuses to overwrite an existing one."""
        if cls.exists(directory):
            raise KeyringError(f"{directory}: a keyring already exists")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        ring = cls(directory=directory, kek_id=cls.new_kek_id(), active_dek=1,
                   deks={1: AESGCM.generate_key(256)}, linkage_secret=secrets.token_bytes(32),
                   fingerprint_secret=secrets.token_bytes(32),
                   signing={use: _new_signing_key() for use in SIGNING_KEYS},
                   subject_wraps={1: AESGCM.generate_key(256)})
        kek = AESGCM.generate_key(256)
        write_private(directory / f"kek-{ring.kek_id}.key", kek)
        ring._save(kek)
        return ring

    @classmethod
    def load(cls, directory: Path) -> Keyring:
        """The keyring in ``directory``. A keyring made before a kind of secret was introduced lacks it
        until :meth:`completed` (run by ``hub init``) adds it."""
        doc, kek = cls._read(directory)
        wrapped = doc["keys"]
        return cls(
            directory=directory, kek_id=doc["kek_id"], active_dek=doc["active_dek"],
            deks={int(n.split("-")[1]): _unwrap(kek, n, w) for n, w in wrapped.items() if n.startswith("dek-")},
            linkage_secret=_unwrap(kek, "linkage", wrapped["linkage"]),
            fingerprint_secret=_unwrap(kek, "fingerprint", wrapped["fingerprint"]),
            signing={n.removeprefix("sign-"): _unwrap(kek, n, w) for n, w in wrapped.items() if n.startswith("sign-")},
            subject_wraps={int(n.split("-")[1]): _unwrap(kek, n, w) for n, w in wrapped.items()
                           if n.startswith("swk-")},
        )

    @staticmethod
    def _read(directory: Path) -> tuple[dict, bytes]:
        try:
            doc = json.loads((directory / KEYRING_FILE).read_text("utf-8"))
            kek = (directory / f"kek-{doc['kek_id']}.key").read_bytes()
        except FileNotFoundError as exc:
            raise KeyringError(f"{directory}: no keys found ({exc.filename}); run `hub init`") from None
        except (ValueError, KeyError) as exc:
            raise KeyringError(f"{directory / KEYRING_FILE}: unreadable keyring ({exc})") from None
        if doc.get("format") != _FORMAT:
            raise KeyringError(f"{directory / KEYRING_FILE}: unsupported keyring format {doc.get('format')!r}")
        return doc, kek

    def missing(self) -> list[str]:
        """The secrets this keyring lacks, by the names :meth:`completed` would add."""
        return [f"sign-{use}" for use in SIGNING_KEYS if use not in self.signing] + (
            [] if self.subject_wraps else ["swk-1"])

    def completed(self) -> tuple[Keyring, list[str]]:
        """This keyring with every secret it lacks (a signing key of :data:`SIGNING_KEYS`, a subject
        wrapping key) made and saved under the current KEK; returns it and the names of those added."""
        added = self.missing()
        ring = dataclasses.replace(self, signing={
            **self.signing, **{use: _new_signing_key() for use in SIGNING_KEYS if use not in self.signing}})
        if not self.subject_wraps:
            ring = dataclasses.replace(ring, subject_wraps={1: AESGCM.generate_key(256)})
        if added:
            ring._save(self._read(self.directory)[1])
        return ring, added

    def with_subject_wraps(self, wraps: dict[int, bytes]) -> Keyring:
        """This keyring with ``wraps`` as its subject wrapping keys, saved under the current KEK (the
        rotation in :mod:`hub.subject_keys` adds one, re-wraps every person's key, then drops the old)."""
        ring = dataclasses.replace(self, subject_wraps=dict(wraps))
        ring._save(self._read(self.directory)[1])
        return ring

    def signing_key(self, use: str) -> Ed25519PrivateKey:
        """The Ed25519 key for ``use``; a :class:`KeyringError` pointing at ``hub init`` if it is missing."""
        try:
            return Ed25519PrivateKey.from_private_bytes(self.signing[use])
        except KeyError:
            raise KeyringError(f"{self.directory}: no {use!r} signing key; run `hub init` to add it") from None

    def verifying_key(self, use: str) -> Ed25519PublicKey:
        """The public half of :meth:`signing_key` (derived once per key: tokens are checked on every request)."""
        try:
            return _public_half(self.signing[use])
        except KeyError:
            raise KeyringError(f"{self.directory}: no {use!r} signing key; run `hub init` to add it") from None

    def _save(self, kek: bytes) -> None:
        wrapped = {f"dek-{n}": _wrap(kek, f"dek-{n}", key) for n, key in sorted(self.deks.items())}
        wrapped["linkage"] = _wrap(kek, "linkage", self.linkage_secret)
        wrapped["fingerprint"] = _wrap(kek, "fingerprint", self.fingerprint_secret)
        wrapped.update({f"sign-{use}": _wrap(kek, f"sign-{use}", key) for use, key in sorted(self.signing.items())})
        wrapped.update({f"swk-{n}": _wrap(kek, f"swk-{n}", key) for n, key in sorted(self.subject_wraps.items())})
        doc = {"format": _FORMAT, "kek_id": self.kek_id, "active_dek": self.active_dek, "keys": wrapped}
        write_private(self.directory / KEYRING_FILE, json.dumps(doc, indent=2).encode())

    @staticmethod
    def new_kek_id() -> str:
        return secrets.token_hex(4)

    def rotate_kek(self, new_kek_id: str) -> Keyring:
        """Wrap every secret under a fresh KEK named ``new_kek_id``, switch to it atomically, then delete the
        old KEK file."""
        old_file = self.directory / f"kek-{self.kek_id}.key"
        rotated = dataclasses.replace(self, kek_id=new_kek_id)
        kek = AESGCM.generate_key(256)
        write_private(self.directory / f"kek-{rotated.kek_id}.key", kek)
        rotated._save(kek)
        old_file.unlink(missing_ok=True)
        return rotated

    # ---------------------------------------------------------------- derived keys

    def derived(self, purpose: str) -> bytes:
        """A key for one purpose (``citizen-id``, ``house-code``...), derived from the linkage secret."""
        return hmac.new(self.linkage_secret, f"saphan|{purpose}".encode(), hashlib.sha256).digest()

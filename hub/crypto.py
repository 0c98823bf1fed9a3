"""Field encryption and keyed hashing for personal data at rest.

A ciphertext is ``format(1) | dek id(2) | nonce(12) | AES-256-GCM(ciphertext+tag)``; its associated
data names the table, the row's natural key and the field, so a ciphertext copied to another row or
field does not decrypt.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import KeyringError
from hub.keys import Keyring

_FORMAT = 1
_HEADER = struct.Struct(">BH")


def aad(table: str, source: str, key: str, field: str) -> bytes:
    """Associated data binding a ciphertext to one row (``source``/``key``) and one field."""
    return f"{table}|{source}|{key}|{field}".encode()


class FieldCipher:
    """Encrypts with the active DEK; decrypts with whichever DEK a ciphertext names."""

    def __init__(self, keyring: Keyring):
        self._aead = {n: AESGCM(k) for n, k in keyring.deks.items()}
        self._active = keyring.active_dek
        self._header = _HEADER.pack(_FORMAT, keyring.active_dek)

    def encrypt(self, plaintext: str | None, associated: bytes) -> bytes | None:
        if plaintext is None:
            return None
        nonce = os.urandom(12)
        return self._header + nonce + self._aead[self._active].encrypt(nonce, plaintext.encode(), associated)

    def decrypt(self, blob: bytes | None, associated: bytes) -> str | None:
        if blob is None:
            return None
        if len(blob) < _HEADER.size + 12 + 16:
            raise KeyringError(f"ciphertext of {len(blob)} bytes is too short to be one of ours (truncated)")
        fmt, dek = _HEADER.unpack_from(blob)
        if fmt != _FORMAT or dek not in self._aead:
            raise KeyringError(f"ciphertext names format {fmt} / key {dek}, which this keyring lacks")
        try:
            return self._aead[dek].decrypt(blob[3:15], blob[15:], associated).decode()
        except InvalidTag:
            raise KeyringError("ciphertext does not decrypt for this row and field (moved or tampered)") from None


class KeyedHasher:
    """HMAC-SHA256 under a purpose-specific key: the linkage keys of citizen IDs and house codes."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, value: str) -> bytes:
        return hmac.digest(self._key, value.encode(), "sha256")


class Fingerprinter:
    """Keyed BLAKE2b-128 of a record's content: tells a changed record from an unchanged one without
    storing a digest anyone could test guesses against."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, content: str) -> bytes:
        return hashlib.blake2b(content.encode(), key=self._key, digest_size=16).digest()

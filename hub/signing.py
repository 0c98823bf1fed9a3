"""Compact JWS signed by one of the hub's Ed25519 keys, and their offline verification.

Verification takes nothing but the token and the public key (PEM), pins the algorithm to EdDSA, and
refuses a token whose base64url segments are not in canonical form, so that changing any byte of a
token makes it fail (a loose decoder ignores the spare bits of a segment's last character).
"""
from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from hub.errors import HubError

ALGORITHM = "EdDSA"
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class SignatureError(HubError):
    """A signed token is malformed, altered, or signed by another key."""


def key_id(public: Ed25519PublicKey) -> str:
    """The ``kid`` of a public key: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def public_pem(private: Ed25519PrivateKey) -> str:
    return private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def sign(private: Ed25519PrivateKey, claims: dict[str, Any], *, token_type: str) -> str:
    """``claims`` as a compact JWS with ``typ`` = ``token_type`` and the key's ``kid`` in the header."""
    return jwt.encode(claims, private, algorithm=ALGORITHM,
                      headers={"kid": key_id(private.public_key()), "typ": token_type})


def _canonical(token: str) -> None:
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(_SEGMENT.match(p) for p in parts):
        raise SignatureError("not a compact JWS (three base64url segments separated by dots)")
    for part in parts:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != part:
            raise SignatureError("a segment is not canonical base64url (altered)")


def verify(token: str, public_key_pem: str | bytes, *, token_type: str) -> dict[str, Any]:
    """The claims of ``token`` when ``public_key_pem`` signed it with EdDSA and its ``typ`` is
    ``token_type``; :class:`SignatureError` naming what is wrong otherwise."""
    _canonical(token)
    try:
        public = load_pem_public_key(public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem)
    except ValueError as exc:
        raise SignatureError(f"the public key is not a PEM Ed25519 key ({exc})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise SignatureError("the public key is not an Ed25519 key")
    try:
        header = jwt.get_unverified_header(token.strip())
        if header.get("typ") != token_type:
            raise SignatureError(f"expected a {token_type} token, found typ {header.get('typ')!r}")
        if header.get("kid") != key_id(public):
            raise SignatureError(f"signed by key {header.get('kid')!r}, not by the key given ({key_id(public)})")
        return jwt.decode(token.strip(), public, algorithms=[ALGORITHM])
    except jwt.InvalidTokenError as exc:
        raise SignatureError(f"signature check failed: {exc}") from None

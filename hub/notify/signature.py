"""Webhook signatures: Ed25519 (the hub's ``webhooks`` key) over the exact bytes of the body.

Each POST carries ``Saphan-Key-Id`` (the key's id, :func:`hub.signing.key_id`) and ``Saphan-Signature``
(the 64-byte signature, unpadded base64url). The body's ``header.message_id`` is the ``Idempotency-Key``,
so the signature covers it too. A receiver needs nothing but the public key
(``GET /api/v1/notify/public-key`` or ``hub notify public-key``) and :func:`verify_webhook`, or the ten
lines of ``docs/notify.md``."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from hub.keys import Keyring
from hub.signing import key_id, public_pem

KEY_USE = "webhooks"
KEY_ID_HEADER = "Saphan-Key-Id"
SIGNATURE_HEADER = "Saphan-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def public_key(keyring: Keyring) -> str:
    """The PEM public key that verifies this hub's webhooks (publish it; it holds no secret)."""
    return public_pem(keyring.signing_key(KEY_USE))


def signed_headers(private: Ed25519PrivateKey, body: bytes, idempotency_key: str) -> dict[str, str]:
    """The headers a webhook with ``body`` is posted with."""
    signature = base64.urlsafe_b64encode(private.sign(body)).rstrip(b"=").decode("ascii")
    return {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key,
            KEY_ID_HEADER: key_id(private.public_key()), SIGNATURE_HEADER: signature}


def verify_webhook(body: bytes, headers: Mapping[str, str], public_key_pem: str | bytes) -> bool:
    """Whether ``body`` (the raw bytes received) was signed by the key ``public_key_pem`` names, unaltered,
    and its ``Idempotency-Key`` header is the one the body carries. ``headers`` may be any mapping; names
    are matched without regard to case. False for anything malformed."""
    given = {name.lower(): value for name, value in headers.items()}
    try:
        public = load_pem_public_key(public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem)
    except ValueError:
        return False
    if not isinstance(public, Ed25519PublicKey) or given.get(KEY_ID_HEADER.lower()) != key_id(public):
        return False
    text = given.get(SIGNATURE_HEADER.lower(), "")
    try:
        signature = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii") != text:
            return False  # not canonical: a spare bit was changed
        public.verify(signature, body)
        message_id = json.loads(body)["header"]["message_id"]
    except (InvalidSignature, binascii.Error, ValueError, KeyError, TypeError):
        return False
    return message_id == given.get(IDEMPOTENCY_HEADER.lower())

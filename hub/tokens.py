"""API tokens: EdDSA-signed JWTs (the keyring's ``tokens`` key) naming a role and what it is bound to.

Verification pins the algorithm and requires ``exp``, ``iat``, ``aud``, ``iss`` and ``sub``. A token is
bound by role: a ``partner`` token to its partner id, a ``community`` token to its village or tambon and
to the registered steward who holds it.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import jwt

from audit.events import TokenIssued
from hub.context import Hub
from hub.errors import HubError
from hub.signing import ALGORITHM, key_id

ISSUER = "saphan-hub"
AUDIENCE = "saphan-api"
ROLES = ("admin", "partner", "community", "auditor", "policy")
_TTL = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class TokenError(HubError):
    """A token is missing, malformed, expired, or not this hub's."""


@dataclass(frozen=True)
class Caller:
    """Who a verified token says is calling."""

    subject: str
    role: str
    partner: str | None = None
    area: str | None = None
    steward: int | None = None
    token_id: str = ""


def parse_ttl(text: str) -> dt.timedelta:
    """``30m``, ``8h`` or ``7d`` (at most 90 days)."""
    match = _TTL.match(text.strip())
    if not match:
        raise TokenError(f"ttl {text!r}: expected a number and m, h or d (30m, 8h, 7d)")
    ttl = dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not dt.timedelta(0) < ttl <= dt.timedelta(days=90):
        raise TokenError("ttl must be more than nothing and at most 90 days")
    return ttl


def issue(hub: Hub, *, role: str, subject: str, actor: str, partner: str | None = None, area: str | None = None,
          steward: int | None = None, ttl: dt.timedelta = dt.timedelta(hours=8)) -> str:
    """A signed token for ``role`` (audited: who it was issued to, never the token itself)."""
    if role not in ROLES:
        raise TokenError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if (role == "partner") != (partner is not None):
        raise TokenError("a partner token names its partner (--partner), and only a partner token does")
    if role == "community" and (area is None or steward is None):
        raise TokenError("a community token names its village or tambon (--area) and its steward (--steward)")
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "role": role, "iat": now, "exp": now + ttl,
              "jti": uuid.uuid4().hex}
    claims.update({k: v for k, v in (("partner", partner), ("area", area), ("steward", steward)) if v is not None})
    private = hub.keyring.signing_key("tokens")
    token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": key_id(private.public_key())})
    with hub.engine.begin() as conn:
        hub.audit.append(conn, TokenIssued(resource=f"token:{claims['jti']}", role=role, subject=subject,
                                           partner=partner, area=area, steward=steward,
                                           expires=(now + ttl).isoformat(timespec="seconds")), actor=actor)
    return token


def verify(hub: Hub, token: str) -> Caller:
    """The :class:`Caller` of a token this hub signed and that is still valid; :class:`TokenError` if not."""
    public = hub.keyring.verifying_key("tokens")
    try:
        decoded = jwt.decode_complete(token, public, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                                      options={"require": ["exp", "iat", "aud", "iss", "sub"]})
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if decoded["header"].get("kid") != key_id(public):
        raise TokenError("invalid token: not signed by this hub's token key (kid)")
    claims = decoded["payload"]
    if claims.get("role") not in ROLES:
        raise TokenError("invalid token: unknown role")
    if (claims["role"] == "partner" and not claims.get("partner")) or \
            (claims["role"] == "community" and not (claims.get("area") and claims.get("steward"))):
        raise TokenError("invalid token: its role's binding (partner, or area and steward) is missing")
    return Caller(claims["sub"], claims["role"], claims.get("partner"), claims.get("area"), claims.get("steward"),
                  claims.get("jti", ""))

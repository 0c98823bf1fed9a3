"""The demo's last step: one ready-made link per role (the policy unit, the community's stewards, the
auditor and each partner that receives views), for the pages :func:`hub.api.serving.serving` serves. A
link carries its token in the URL's fragment (``/login#token=...``), which a browser never sends to the
server: the login page reads it, logs in and forgets it, so no token lands in a request log."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub.context import Hub
from hub.tokens import issue

DEMO_TTL = dt.timedelta(hours=12)
#: Partners that log in to their own views; the policy unit and the community have their roles' links, and
#: the public's view needs no login.
LINKED_PARTNER_TYPES = ("agency", "university")


@dataclass(frozen=True)
class RoleLink:
    role: str  # what the person does
    who: str  # whom the token was issued to
    path: str  # /login#token=...

    def url(self, base: str) -> str:
        return base + self.path


def role_links(hub: Hub, *, village: str, steward: int, actor: str) -> list[RoleLink]:
    """A token per role, each audited as issued (``token.issued``), as login links."""
    def link(role_name: str, who: str, **claims) -> RoleLink:
        token = issue(hub, subject=who, actor=actor, ttl=DEMO_TTL, **claims)
        return RoleLink(role_name, who, f"/login#token={token}")

    links = [
        link("policy unit", "ศูนย์อำนวยการขจัดความยากจน (demo)", role="policy"),
        link("community stewards", f"ผู้ใหญ่บ้าน, village {village} (demo)", role="community", area=village,
             steward=steward),
        link("auditor", "สำนักงานการตรวจเงินแผ่นดิน (demo)", role="auditor"),
    ]
    partners = sorted({loaded.contract.partner.id for loaded in hub.contracts.in_force(dt.date.today())
                       if loaded.contract.partner.type in LINKED_PARTNER_TYPES})
    links += [link(f"partner: {partner}", f"{partner} data desk (demo)", role="partner", partner=partner)
              for partner in partners]
    return links

"""Demo accounts for ``manage.py seed_demo``: one user per staff role, two members, and a
data-platform client. Idempotent: a second run creates nothing and prints the same logins."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from apps.accounts import roles, services
from apps.accounts.models import SystemClient, User

DEMO_PASSWORD = "joopang-demo-2026"
DEMO_CLIENT_NAME = "Data platform (demo)"
#: Known demo secret, so the printed login stays valid on every run. Demo data only:
#: seed_demo refuses to run under production settings.
DEMO_CLIENT_SECRET = "demo-data-platform-secret-change-me"

STAFF = [
    ("ops@joopang.test", roles.OPS_ADMIN, None, "Ops Admin"),
    ("cs@joopang.test", roles.CS_AGENT, None, "CS Agent"),
    ("cs.kr@joopang.test", roles.CS_AGENT, "KR", "CS Agent (KR)"),
    ("inventory@joopang.test", roles.INVENTORY_MANAGER, None, "Inventory Manager"),
    ("marketing@joopang.test", roles.MARKETING_MANAGER, None, "Marketing Manager"),
]
MEMBERS = [
    ("member.kr@joopang.test", "김민지", "KR", "ko"),
    ("member.us@joopang.test", "Emily Carter", "US", "en"),
]


def seed(*, stdout: Any) -> list[str]:
    roles.roles_sync(strict=False)
    for email, role, market, name in STAFF:
        if not User.objects.filter(email__iexact=email).exists():
            services.staff_create_or_update(
                email=email, role=role, password=DEMO_PASSWORD, market=market, name=name
            )
    member_group = Group.objects.get(name=roles.MEMBER)
    for email, name, market, locale in MEMBERS:
        if not User.objects.filter(email__iexact=email).exists():
            consents = services.required_consents(market)
            user = services.user_register(
                email=email,
                password=DEMO_PASSWORD,
                name=name,
                market=market,
                locale=locale,
                consents=consents,
                source="demo",
            )
            user.groups.add(member_group)
    client = SystemClient.objects.filter(name=DEMO_CLIENT_NAME).first()
    if client is None:
        client, _secret = services.system_client_create(name=DEMO_CLIENT_NAME)
        services.system_client_secret_set(client=client, secret=DEMO_CLIENT_SECRET)
    lines = ["", f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for email, role, market, _name in STAFF:
        lines.append(f"  {role:<18} {email}{f'  (market {market} only)' if market else ''}  -> /admin/")
    for email, _name, market, locale in MEMBERS:
        lines.append(f"  {'member':<18} {email}  ({market}, {locale})  -> /accounts/login/")
    lines.append(
        f"  {'data_platform':<18} client_id={client.client_id} client_secret={DEMO_CLIENT_SECRET}"
        "  -> POST /api/v1/auth/token grant_type=client_credentials"
    )
    return lines

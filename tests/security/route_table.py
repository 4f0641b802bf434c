"""Rules of the role matrix (tests/security/test_rbac_matrix.py) for every route outside
``/api/v1/`` (the API's rules are the ``tests/<app>/rbac_table.py`` tables).

Outcomes: ``ok`` (2xx), ``login`` (3xx to a sign-in page), ``redirect`` (another 3xx: a
form's post-redirect-get, a canonical URL, a refusal shown as a message on the page it
goes back to), or the 4xx code. Requests come from 203.0.113.9 (outside the metrics
allow-list) with no form data: a POST that is allowed answers its form's errors (400) or
redirects back with a message; a refused one never reaches the form.
"""

from __future__ import annotations

from tests.accounts.rbac_table import ROLES

STAFF = ("cs_agent", "inventory_manager", "marketing_manager", "ops_admin")


def row(default: str, **roles: str) -> dict[str, str]:
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return {role: roles.get(role, default) for role in ROLES}


#: A member's own pages: guests sign in; staff and system accounts may not shop (403).
def member_page(member: str) -> dict[str, str]:
    return row("403", guest="login", member=member)


OPEN = row("ok")
ADMIN_PAGE = row("ok", guest="login", member="login", data_platform="login")

#: route (as test_rbac.py's walk names it) -> (method, role -> outcome)
PAGES: dict[str, tuple[str, dict[str, str]]] = {
    # operations: liveness and readiness for everyone; metrics for staff or the allow-list
    "/healthz": ("GET", OPEN),
    "/readyz": ("GET", OPEN),
    "/metrics": (
        "GET",
        row("403", cs_agent="ok", inventory_manager="ok", marketing_manager="ok", ops_admin="ok"),
    ),
    # anything else under /api/: a problem+json 404 whoever asks
    "/api/": ("GET", row("404")),
    # storefront, open to everyone (a staff or system session browses like a guest)
    "/": ("GET", OPEN),
    "/search": ("GET", OPEN),
    "/c/<slug:slug>/": ("GET", OPEN),
    "/p/<int:product_id>/": ("GET", row("redirect")),  # to the canonical /p/<id>/<slug>/
    "/p/<int:product_id>/<str:slug>/": ("GET", OPEN),
    "/p/<int:product_id>/image.svg": ("GET", OPEN),
    r"/p/(?P<product_id>[0-9]+)/image\.(?P<lang>ko|en)\.svg": ("GET", OPEN),
    "/coupons/": ("GET", OPEN),
    "/preferences": ("POST", row("redirect")),
    # the cart: guests and members; staff and system accounts are sent back with a message
    # (the form's refusal, "This account cannot shop")
    "/cart/": ("GET", OPEN),
    "/cart/add": ("POST", row("redirect")),
    "/cart/items/<str:sku>/update": ("POST", row("redirect", member="400")),
    "/cart/items/<str:sku>/remove": ("POST", row("redirect")),
    # accounts
    "/accounts/signup/": ("GET", row("redirect", guest="ok")),
    "/accounts/login/": ("GET", OPEN),
    "/accounts/logout/": ("POST", row("redirect")),
    "/accounts/profile/": ("GET", row("ok", guest="login")),
    "/accounts/profile/export/": ("GET", row("ok", guest="login")),
    # without the password: back to the profile with "password incorrect", nothing deleted
    "/accounts/profile/delete/": ("POST", row("redirect", guest="login")),
    # the member's own pages (the member's own objects in the path)
    "/wallet/": ("GET", member_page("ok")),
    "/wallet/methods/": ("GET", member_page("ok")),
    "/wallet/methods/<uuid:public_id>/remove": ("POST", member_page("redirect")),
    "/coupons/mine/": ("GET", member_page("ok")),
    "/coupons/campaigns/<int:campaign_id>/claim": ("POST", member_page("redirect")),
    "/checkout/": ("GET", member_page("ok")),
    "/orders/": ("GET", member_page("ok")),
    "/orders/<uuid:public_id>/": ("GET", member_page("ok")),
    "/orders/<uuid:public_id>/complete/": ("GET", member_page("ok")),
    "/orders/<uuid:public_id>/receipt/": ("GET", member_page("ok")),
    "/orders/<uuid:public_id>/pay": ("POST", member_page("400")),
    "/orders/<uuid:public_id>/cancel": ("POST", member_page("redirect")),
    # the admin site's own pages: staff only, whatever their role
    "/admin/": ("GET", ADMIN_PAGE),
    "/admin/login/": ("GET", row("redirect", guest="ok", member="ok", data_platform="ok")),
    "/admin/logout/": ("POST", row("redirect")),
    "/admin/password_change/": ("GET", ADMIN_PAGE),
    "/admin/password_change/done/": ("GET", ADMIN_PAGE),
    "/admin/search/": ("GET", ADMIN_PAGE),
    "/admin/jsi18n/": ("GET", ADMIN_PAGE),
    # no app_label/model_name/field_name: refused before any lookup
    "/admin/autocomplete/": ("GET", row("403", guest="login", member="login", data_platform="login")),
    "/admin/r/<path:content_type_id>/<path:object_id>/": (
        "GET",
        row("404", guest="login", member="login", data_platform="login"),
    ),
    # /admin/orders/: an app whose models a role cannot see is a 404 to it
    r"/admin/(?P<app_label>markets|django_celery_beat|django_celery_results|token_blacklist|accounts|auth|catalog|inventory|coupons|payments|orders|core|integrations|analytics)/": (
        "GET",
        row(
            "ok",
            guest="login",
            member="login",
            data_platform="login",
            inventory_manager="404",
            marketing_manager="404",
        ),
    ),
    "/admin/(?P<url>.*)": ("GET", row("404", guest="login", member="login", data_platform="login")),
}

#: model label -> who may add, change (post the change form), delete. Who may view is the
#: changelist table (tests/*/rbac_table.py ADMIN_MODELS). Ledgers, orders, payments,
#: coupons issued, events and aggregates are written by services only: nobody here.
NOBODY: dict[str, tuple[str, ...]] = {"add": (), "change": (), "delete": ()}
OPS_WRITES: dict[str, tuple[str, ...]] = {
    "add": ("ops_admin",),
    "change": ("ops_admin",),
    "delete": ("ops_admin",),
}

ADMIN_WRITES: dict[str, dict[str, tuple[str, ...]]] = {
    "accounts.user": {"add": ("ops_admin",), "change": ("ops_admin",), "delete": ()},
    "accounts.systemclient": {"add": ("ops_admin",), "change": ("ops_admin",), "delete": ()},
    "accounts.consent": NOBODY,
    "accounts.rolechange": NOBODY,
    "auth.group": NOBODY,  # roles are code (roles_sync), not edited by hand
    "markets.market": {"add": (), "change": ("ops_admin",), "delete": ()},
    "markets.fxrate": OPS_WRITES,
    "catalog.category": OPS_WRITES,
    "catalog.brand": OPS_WRITES,
    "catalog.product": {
        "add": ("ops_admin",),
        "change": ("marketing_manager", "ops_admin"),
        "delete": ("ops_admin",),
    },
    "catalog.sku": OPS_WRITES,
    "catalog.marketprice": {
        "add": ("ops_admin",),
        "change": ("marketing_manager", "ops_admin"),
        "delete": ("ops_admin",),
    },
    "catalog.productsalesdaily": NOBODY,
    "inventory.warehouse": OPS_WRITES,
    "inventory.stocklevel": {
        "add": ("ops_admin",),
        "change": ("inventory_manager", "ops_admin"),
        "delete": ("ops_admin",),
    },
    "inventory.stockmovement": NOBODY,
    "inventory.reservation": NOBODY,
    "payments.wallet": NOBODY,
    "payments.walletentry": NOBODY,
    "payments.paymentmethod": NOBODY,
    "payments.charge": NOBODY,
    "orders.order": NOBODY,
    "coupons.campaign": {
        "add": ("marketing_manager", "ops_admin"),
        "change": ("marketing_manager", "ops_admin"),
        "delete": (),
    },
    "coupons.coupon": NOBODY,
    "coupons.couponuse": NOBODY,
    "analytics.dailysales": NOBODY,
    "analytics.couponusagedaily": NOBODY,
    "core.outboxevent": NOBODY,
    "integrations.deliveryattempt": NOBODY,
    "token_blacklist.outstandingtoken": NOBODY,
    "token_blacklist.blacklistedtoken": NOBODY,
    "django_celery_beat.periodictask": OPS_WRITES,
    "django_celery_beat.intervalschedule": OPS_WRITES,
    "django_celery_beat.crontabschedule": OPS_WRITES,
    "django_celery_beat.clockedschedule": OPS_WRITES,
    "django_celery_beat.solarschedule": OPS_WRITES,
    "django_celery_results.taskresult": NOBODY,
    "django_celery_results.groupresult": NOBODY,
}


def _admin_view(*allowed: str, ok: str = "ok") -> dict[str, str]:
    return row("403", guest="login", member="login", data_platform="login") | dict.fromkeys(allowed, ok)


#: custom admin views of a model (GET; a GET changes nothing: the form, or back to the page)
ADMIN_EXTRA_VIEWS: dict[str, dict[str, str]] = {
    "/admin/accounts/user/<id>/password/": _admin_view("ops_admin"),
    "/admin/inventory/stocklevel/receive/": _admin_view("inventory_manager", "ops_admin"),
    "/admin/inventory/stocklevel/transfer/": _admin_view("inventory_manager", "ops_admin"),
    "/admin/inventory/stocklevel/<path:object_id>/receive/": _admin_view("inventory_manager", "ops_admin"),
    "/admin/inventory/stocklevel/<path:object_id>/correct/": _admin_view("inventory_manager", "ops_admin"),
    "/admin/inventory/stocklevel/<path:object_id>/transfer/": _admin_view("inventory_manager", "ops_admin"),
    "/admin/inventory/stockmovement/export/": _admin_view("inventory_manager", "ops_admin"),
    "/admin/payments/wallet/<path:object_id>/adjust/": _admin_view("cs_agent", "ops_admin"),
    # CSV exports of a changelist: whoever may view the list
    "/admin/payments/walletentry/export/": _admin_view("cs_agent", "ops_admin"),
    "/admin/coupons/coupon/export/": _admin_view("cs_agent", "marketing_manager", "ops_admin"),
    "/admin/coupons/couponuse/export/": _admin_view("cs_agent", "marketing_manager", "ops_admin"),
    "/admin/analytics/dailysales/export/": _admin_view("ops_admin"),
    "/admin/analytics/couponusagedaily/export/": _admin_view("marketing_manager", "ops_admin"),
    "/admin/orders/order/export/": _admin_view("cs_agent", "ops_admin"),
    "/admin/orders/order/<path:object_id>/change-status/": _admin_view("cs_agent", "ops_admin"),
    "/admin/coupons/campaign/<path:object_id>/transition/": _admin_view(
        "marketing_manager", "ops_admin", ok="redirect"
    ),
    "/admin/coupons/campaign/<path:object_id>/revoke/": _admin_view("marketing_manager", "ops_admin"),
    "/admin/core/outboxevent/<path:object_id>/redeliver/": _admin_view("ops_admin", ok="redirect"),
}

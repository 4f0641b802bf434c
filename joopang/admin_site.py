"""The back office's wiring (issue 15): django-unfold's settings callbacks, the admin's
language and time zone, its sidebar per role, and its 403 page.

* **Language.** A signed-in staff member works in their profile's language; before
  signing in (the login page) the browser's ``Accept-Language`` decides (an explicit
  ``?lang=`` still wins), then the market's default. The storefront's language cookie
  is a shopper's choice and is not consulted here.
* **Time zone.** Times are shown in the market's zone: a staff member scoped to one
  market sees that market's, everyone else the request's market
  (``LocaleMarketMiddleware``). Django's own date display and
  :func:`apps.core.admin_display.datetime_cell` both read the active zone.
* **Sidebar.** Groups by what each role does; an item shows only when the user may
  view its list, a group only when one of its items shows. A group whose app does not
  exist yet (integrations) has no items, so it never appears and never links to nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from apps.accounts.selectors import staff_markets
from apps.markets.models import Market
from apps.markets.resolution import accept_language, resolve_market, supported_language
from apps.markets.selectors import market_map

ADMIN_PREFIX = "/admin/"


def is_admin_path(path: str) -> bool:
    return path.startswith(ADMIN_PREFIX)


# --- Language and time zone -----------------------------------------------------------
def admin_market(request: HttpRequest) -> Market:
    """The market whose time zone the admin shows: the staff member's only market when
    they are scoped to one, otherwise the request's market."""
    user = getattr(request, "user", None)
    markets = staff_markets(user) if user is not None and user.is_authenticated else None
    if markets and len(markets) == 1:
        scoped = market_map().get(next(iter(markets)))
        if scoped is not None:
            return scoped
    market: Market | None = getattr(request, "market", None)
    return market if market is not None else resolve_market(request)


def admin_language(request: HttpRequest, market: Market) -> str:
    """Profile when signed in; otherwise ``?lang=``, the browser's, the market's."""
    user = getattr(request, "user", None)
    candidates: tuple[str | None, ...]
    if user is not None and user.is_authenticated:
        candidates = (getattr(user, "locale", None), request.GET.get("lang"), accept_language(request))
    else:
        candidates = (request.GET.get("lang"), accept_language(request))
    for candidate in (*candidates, market.default_locale):
        found = supported_language(candidate)
        if found:
            return found
    return "en"


class AdminLocaleMiddleware:
    """Activates the admin's language and the market's time zone under ``/admin/``.

    Sits right after ``LocaleMarketMiddleware`` (which sets ``request.market``), so the
    whole view, template rendering and the 403 handler run inside it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_admin_path(request.path):
            return self.get_response(request)
        market = admin_market(request)
        language = admin_language(request, market)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        request.admin_market = market  # type: ignore[attr-defined]
        if "lang" in request.GET or "market" in request.GET:
            # Read above; a change list would take them for filters (and answer ?e=1).
            params = request.GET.copy()
            params.pop("lang", None)
            params.pop("market", None)
            request.GET = params  # type: ignore[assignment]
        with translation.override(language), timezone.override(ZoneInfo(market.time_zone)):
            response = self.get_response(request)
        response["Content-Language"] = language
        return response


# --- Sidebar ------------------------------------------------------------------------
def _can_view(*models: str) -> Callable[[HttpRequest], bool]:
    """Permission callback: the user may view (or change) one of ``app_label.model``."""

    def check(request: HttpRequest) -> bool:
        user = request.user
        return any(
            user.has_perm(f"{label}.view_{model}") or user.has_perm(f"{label}.change_{model}")
            for label, model in (name.split(".") for name in models)
        )

    return check


def _model_item(title: Any, icon: str, model: str, query: str = "") -> dict[str, Any] | None:
    label, name = model.split(".")
    try:
        link = reverse(f"admin:{label}_{name}_changelist")
    except NoReverseMatch:  # not registered (an app not installed): no dead link
        return None
    return {"title": title, "icon": icon, "link": link + query, "permission": _can_view(model)}


def _navigation_spec() -> list[tuple[Any, list[tuple[Any, str, str, str]]]]:
    """(group title, [(item title, material icon, app_label.model, query)])."""
    return [
        (
            _("Catalog and pricing"),
            [
                (_("Products"), "inventory_2", "catalog.product", ""),
                (_("SKUs"), "barcode", "catalog.sku", ""),
                (_("Prices"), "sell", "catalog.marketprice", ""),
                (_("Categories"), "category", "catalog.category", ""),
                (_("Brands"), "verified", "catalog.brand", ""),
                (_("Daily product sales"), "bar_chart", "catalog.productsalesdaily", ""),
            ],
        ),
        (
            _("Stock"),
            [
                (_("Stock levels"), "warehouse", "inventory.stocklevel", ""),
                (_("Low stock"), "production_quantity_limits", "inventory.stocklevel", LOW_STOCK_QUERY),
                (_("Stock ledger"), "receipt_long", "inventory.stockmovement", ""),
                (_("Reservations"), "shopping_cart_checkout", "inventory.reservation", ""),
                (_("Warehouses"), "location_on", "inventory.warehouse", ""),
            ],
        ),
        (
            _("Customers"),
            [
                (_("Customers"), "group", "accounts.user", ""),
                (_("Consents"), "task_alt", "accounts.consent", ""),
            ],
        ),
        (
            _("Orders and payments"),
            [
                # Lines, payments, refunds, history and events are on the order's page.
                (_("Orders"), "shopping_bag", "orders.order", ""),
                (_("Wallets"), "account_balance_wallet", "payments.wallet", ""),
                (_("Wallet ledger"), "receipt", "payments.walletentry", ""),
                (_("Payment methods"), "credit_card", "payments.paymentmethod", ""),
                (_("Charges"), "payments", "payments.charge", ""),
            ],
        ),
        (
            _("Coupons"),
            [
                (_("Campaigns"), "campaign", "coupons.campaign", ""),
                (_("Coupons"), "confirmation_number", "coupons.coupon", ""),
                (_("Coupon usage"), "history", "coupons.couponuse", ""),
            ],
        ),
        (
            _("Reports"),
            [
                (_("Daily sales"), "monitoring", "analytics.dailysales", ""),
                (_("Daily coupon usage"), "query_stats", "analytics.couponusagedaily", ""),
            ],
        ),
        (
            _("Integrations"),
            [
                # An event's page has its payload, its delivery attempts and "Redeliver".
                (_("Outbox events"), "outbox", "core.outboxevent", ""),
                (_("Failed events"), "sms_failed", "core.outboxevent", FAILED_EVENTS_QUERY),
                (_("Delivery attempts"), "send", "integrations.deliveryattempt", ""),
            ],
        ),
        (
            _("Operations"),
            [
                (_("Staff accounts"), "badge", "accounts.user", "?account=staff"),
                (_("Roles"), "admin_panel_settings", "auth.group", ""),
                (_("Role changes"), "history", "accounts.rolechange", ""),
                (_("System clients"), "key", "accounts.systemclient", ""),
                (_("Markets"), "public", "markets.market", ""),
                (_("FX rates"), "currency_exchange", "markets.fxrate", ""),
                (_("Periodic tasks"), "schedule", "django_celery_beat.periodictask", ""),
                (_("Task results"), "fact_check", "django_celery_results.taskresult", ""),
                (_("Outstanding tokens"), "token", "token_blacklist.outstandingtoken", ""),
                (_("Blacklisted tokens"), "block", "token_blacklist.blacklistedtoken", ""),
            ],
        ),
    ]


#: The stock list's low-stock view (``apps.inventory.admin.AvailabilityFilter``).
LOW_STOCK_QUERY = "?availability=low"


def _low_stock_active(path: str, *, low: bool) -> Callable[[HttpRequest], bool]:
    def active(request: HttpRequest) -> bool:
        shows_low = request.path == path and request.GET.get("availability") == "low"
        return shows_low if low else request.path.startswith(path) and not shows_low

    return active


#: The outbox list's failed view (``apps.integrations.admin.StatusFilter``).
FAILED_EVENTS_QUERY = "?status=failed"


def _failed_events_active(path: str, *, failed: bool) -> Callable[[HttpRequest], bool]:
    def active(request: HttpRequest) -> bool:
        shows_failed = request.path == path and request.GET.get("status") == "failed"
        return shows_failed if failed else request.path.startswith(path) and not shows_failed

    return active


def _staff_list_permission(request: HttpRequest) -> bool:
    return bool(request.user.has_perm("accounts.manage_roles"))


def _user_list_active(path: str, *, staff: bool) -> Callable[[HttpRequest], bool]:
    def active(request: HttpRequest) -> bool:
        return request.path.startswith(path) and (request.GET.get("account") == "staff") == staff

    return active


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """UNFOLD["SIDEBAR"]["navigation"]: the groups this user has something to open in."""
    groups = []
    for title, specs in _navigation_spec():
        items = []
        for item_title, icon, model, query in specs:
            item = _model_item(item_title, icon, model, query)
            if item is None:
                continue
            if model == "accounts.user":  # one list, two entries: tell them apart
                wants_staff = query == "?account=staff"
                item["active"] = _user_list_active(item["link"].split("?")[0], staff=wants_staff)
                if wants_staff:
                    item["permission"] = _staff_list_permission
            if model == "inventory.stocklevel":  # the list and its low-stock view
                item["active"] = _low_stock_active(item["link"].split("?")[0], low=query == LOW_STOCK_QUERY)
            if model == "core.outboxevent":  # the list and its failed view
                item["active"] = _failed_events_active(
                    item["link"].split("?")[0], failed=query == FAILED_EVENTS_QUERY
                )
            if item["permission"](request):
                items.append(item)
        if items:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": items})
    if groups:
        dashboard = {"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")}
        groups.insert(0, {"title": None, "separator": False, "items": [dashboard]})
    return groups


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """UNFOLD["DASHBOARD_CALLBACK"]: the sections of the user's roles with their charts
    (``apps.analytics.dashboard``), then the same groups as the sidebar."""
    from apps.analytics.dashboard import dashboard_for

    context["title"] = _("Joopang back office")
    context["dashboard"] = dashboard_for(request.user)
    context["dashboard_groups"] = [group for group in context.get("sidebar_navigation", []) if group["title"]]
    return context


def stylesheet(request: HttpRequest) -> str:
    """UNFOLD["STYLES"]: our few additions to unfold's styles."""
    return static("backoffice/admin.css")


def time_zone_label(request: HttpRequest) -> str:
    """UNFOLD["SITE_SUBHEADER"]: which market's clock the times are in."""
    market: Market | None = getattr(request, "admin_market", None)
    if market is None:
        return ""
    zone = timezone.localtime(timezone.now(), ZoneInfo(market.time_zone)).tzname() or market.time_zone
    return str(_("Times in %(zone)s (%(market)s)") % {"zone": zone, "market": market.code})


# --- 403 ----------------------------------------------------------------------------
def permission_denied(request: HttpRequest) -> HttpResponse:
    """A 403 inside the admin: the admin's page, with the way back to its index.

    The sidebar (and its user menu) only for someone the admin lets in: a refusal before
    signing in (a CSRF failure on the login form) has no user to show, and unfold's avatar
    cannot render an anonymous one.
    """
    context = {
        **admin.site.each_context(request),
        "title": _("You do not have access to this page"),
    }
    if not admin.site.has_permission(request):
        context["is_nav_sidebar_enabled"] = False
        context["has_permission"] = False
    response = TemplateResponse(request, "admin/403.html", context, status=403)
    response.render()
    return response

"""Storefront wallet pages: the balance, the ledger and a top-up form (``/wallet/``), and the
member's saved payment methods (``/wallet/methods/``).

Plain POST-redirect-GET forms (no JavaScript needed; ``static/payments/wallet.js`` only
fills the amount box from the quick-amount buttons). Every write goes through
``apps.payments.services``, every read through ``apps.payments.selectors``. The pages
carry personal data: ``no-store`` (``personal_data``; the middleware also says so to
every signed-in visitor).

A top-up form carries a per-render uuid4 (``request_key``). The service's key is that uuid
plus the method and the amount: the same form sent twice (a double click, a refresh of the
POST) is one top-up, credited once; the same page sent again with another amount or method
(back, edit, send) is a new top-up the member asked for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from babel.numbers import get_currency_symbol
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.models import User
from apps.core.cache_control import personal_data
from apps.core.errors import DomainError
from apps.core.formatting import cldr_locale, format_money
from apps.core.money import Money
from apps.markets.models import Market
from apps.payments import selectors, services
from apps.payments.errors import (
    CardNumberRefused,
    MethodInvalid,
    MethodNotFound,
    PaymentDeclined,
)
from apps.payments.forms import MethodAddForm, TopUpForm, minor_to_major_text, quick_amounts
from apps.payments.models import Charge, PaymentMethod, WalletEntry

PAGE_SIZE = 20
#: Far enough back for any member; a crafted ?page=10**9 costs nothing.
MAX_PAGE = 10_000


@dataclass(frozen=True)
class LedgerRow:
    """A ledger entry as the page shows it (never the staff reason of an adjustment)."""

    kind: str
    kind_label: str
    amount: str
    is_credit: bool
    balance_after: str
    entry: WalletEntry


def _member(request: HttpRequest) -> User | None:
    """The signed-in shopper, or None for a staff account or system client (no wallet)."""
    user = request.user
    if not isinstance(user, User) or getattr(user, "is_service_account", False):
        return None
    return user if user.has_perm("accounts.shop") else None


def _not_a_shopper(request: HttpRequest) -> HttpResponse:
    return render(request, "payments/not_a_shopper.html", status=403)


def _signed(amount: int, currency: str) -> str:
    text = format_money(Money(abs(amount), currency))
    return f"+{text}" if amount > 0 else f"\u2212{text}"


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return min(max(int(raw), 1), MAX_PAGE) if raw.isdigit() and len(raw) < 8 else 1


def _ledger(wallet: Any, page: int) -> tuple[list[LedgerRow], bool]:
    """One page of the ledger, newest first, and whether an older page exists (one row more
    is read instead of a COUNT)."""
    offset = (page - 1) * PAGE_SIZE
    entries = list(selectors.wallet_entry_list(wallet=wallet)[offset : offset + PAGE_SIZE + 1])
    rows = [
        LedgerRow(
            kind=entry.kind,
            kind_label=entry.get_kind_display(),
            amount=_signed(entry.amount, entry.wallet.currency),
            is_credit=entry.amount > 0,
            balance_after=format_money(entry.balance_after_money),
            entry=entry,
        )
        for entry in entries[:PAGE_SIZE]
    ]
    return rows, len(entries) > PAGE_SIZE


def _wallet_render(
    request: HttpRequest,
    user: User,
    market: Market,
    methods: list[PaymentMethod],
    form: TopUpForm,
    *,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    wallet = selectors.wallet_find(user=user, market=market)
    page = _page_number(request) if request.method == "GET" else 1
    rows, has_older = _ledger(wallet, page)
    context = {
        "balance": wallet.balance_money if wallet is not None else Money.zero(market.currency),
        "rows": rows,
        "page": page,
        "has_older": has_older,
        "methods": methods,
        "form": form,
        "quick_amounts": [
            (m.amount, format_money(m), minor_to_major_text(m.amount, m.currency))
            for m in quick_amounts(market.currency)
        ],
        "currency_symbol": get_currency_symbol(market.currency, locale=cldr_locale()),
        "error": error,
    }
    return render(request, "payments/wallet.html", context, status=status)


def _fresh_form(methods: list[PaymentMethod], currency: str, **initial: Any) -> TopUpForm:
    initial.setdefault("request_key", TopUpForm.fresh_key())
    if methods:
        initial.setdefault("method", str(methods[0].public_id))
    return TopUpForm(initial=initial, methods=methods, currency=currency)


def _valid_uuid(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value or ""))
    except ValueError:
        return None


@personal_data
@login_required
@require_http_methods(["GET", "POST"])
def wallet_page(request: HttpRequest) -> HttpResponse:
    """The balance, the ledger and the top-up form (POST: a top-up, or a quick amount put
    in the box when JavaScript is off)."""
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    market: Market = request.market  # type: ignore[attr-defined]
    methods = list(selectors.payment_method_list(user=user, market=market))
    if request.method == "GET":
        return _wallet_render(request, user, market, methods, _fresh_form(methods, market.currency))

    fill = request.POST.get("fill", "")
    if fill:  # a quick-amount button without JavaScript: fill the box, charge nothing
        allowed = {str(m.amount): m for m in quick_amounts(market.currency)}
        initial: dict[str, Any] = {}
        if fill in allowed:
            initial["amount"] = minor_to_major_text(allowed[fill].amount, market.currency)
        if request.POST.get("method") in {str(m.public_id) for m in methods}:
            initial["method"] = request.POST["method"]
        if key := _valid_uuid(request.POST.get("request_key")):
            initial["request_key"] = key
        return _wallet_render(
            request, user, market, methods, _fresh_form(methods, market.currency, **initial)
        )

    if not methods:  # removed in another tab meanwhile: the page says to add one
        return HttpResponseRedirect(reverse("payments:wallet"))
    form = TopUpForm(request.POST, methods=methods, currency=market.currency)
    if not form.is_valid():
        return _wallet_render(request, user, market, methods, form, status=400)
    method_id = form.cleaned_data["method"]
    amount = form.cleaned_data["amount"]
    request_key = f"{form.cleaned_data['request_key']}:{method_id}:{amount}"
    try:
        result = services.top_up(
            user=user, market=market, method_id=method_id, amount=amount, request_key=request_key
        )
    except DomainError as exc:
        if isinstance(exc, PaymentDeclined):
            # this key's charge is settled as declined; trying again is a new top-up
            data = request.POST.copy()
            data["request_key"] = TopUpForm.fresh_key()
            form = TopUpForm(data, methods=methods, currency=market.currency)
        response = _wallet_render(
            request, user, market, methods, form, error=exc.detail, status=exc.http_status
        )
        for header, value in exc.headers.items():
            response[header] = value
        return response
    credited = format_money(result.charge.amount_money)
    if result.charge.status == Charge.Status.PENDING:
        messages.info(
            request,
            _("Your payment of %(amount)s is being confirmed; your balance updates when it is.")
            % {"amount": credited},
        )
    else:
        messages.success(request, _("%(amount)s was added to your wallet.") % {"amount": credited})
    return HttpResponseRedirect(reverse("payments:wallet"))


def _methods_render(
    request: HttpRequest,
    user: User,
    form: MethodAddForm,
    *,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    market: Market = request.market  # type: ignore[attr-defined]
    context = {
        "methods": list(selectors.payment_method_list(user=user, market=market)),
        "form": form,
        "error": error,
    }
    return render(request, "payments/methods.html", context, status=status)


@personal_data
@login_required
@require_http_methods(["GET", "POST"])
def methods_page(request: HttpRequest) -> HttpResponse:
    """The member's saved methods of this market, and the form to add one (POST)."""
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    if request.method == "GET":
        return _methods_render(request, user, MethodAddForm())
    market: Market = request.market  # type: ignore[attr-defined]
    form = MethodAddForm(request.POST)
    form.is_valid()  # nothing to refuse here: the service checks what was typed
    data = form.cleaned_data
    try:
        method = services.payment_method_add(
            user=user, market=market, kind=data["kind"], label=data["label"], last4=data["last4"]
        )
    except CardNumberRefused as exc:
        # never written back: a new form with only the kind (the widgets would drop the
        # value anyway), the refusal in the banner
        clean = QueryDict(mutable=True)
        clean["kind"] = data["kind"] if data["kind"] in PaymentMethod.Kind.values else ""
        return _methods_render(request, user, MethodAddForm(clean), error=exc.detail, status=exc.http_status)
    except MethodInvalid as exc:
        named = form.explain_invalid()
        error = _("Check the highlighted fields.") if named else exc.detail
        return _methods_render(request, user, form, error=error, status=exc.http_status)
    except DomainError as exc:
        response = _methods_render(request, user, form, error=exc.detail, status=exc.http_status)
        for header, value in exc.headers.items():
            response[header] = value
        return response
    messages.success(request, _("“%(method)s” was added.") % {"method": method.display_label})
    return HttpResponseRedirect(reverse("payments:methods"))


@personal_data
@login_required
@require_POST
def method_remove(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    try:
        method = services.payment_method_remove(user=user, public_id=public_id)
    except MethodNotFound as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("“%(method)s” was removed.") % {"method": method.display_label})
    return HttpResponseRedirect(reverse("payments:methods"))

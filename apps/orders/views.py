"""Storefront orders: checkout (``/checkout/``), the confirmation, the order history, an
order's detail (timeline, pay now, cancel) and the KR e-receipt.

Plain POST-redirect-GET forms. Every write goes through ``apps.orders.services`` (and
``apps.accounts.services`` for "save as my default address", ``apps.carts.services`` to
empty the cart once the order holds its lines); every read through selectors. The pages
carry personal data: ``no-store`` (``personal_data``). Another member's order is a 404.

Checkout places the order with the rendered form's ``order_key`` and pays it with its
``pay_key`` (uuid4s made per render): the same form sent twice (a double click, a refresh
of the POST) is one order paid once. When paying fails the order exists, PENDING: the
member lands on its page with the reason and a "Pay now" form until it expires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User
from apps.accounts.services import user_profile_update
from apps.carts import selectors as cart_selectors
from apps.core import clock
from apps.core.cache_control import personal_data
from apps.core.errors import DomainError, IdempotencyKeyReused
from apps.core.formatting import format_money
from apps.core.money import Money
from apps.coupons import selectors as coupon_selectors
from apps.coupons.errors import CouponNotFound, NotApplicable
from apps.markets.models import Market
from apps.orders import selectors, services
from apps.orders.errors import AddressRequired, OrderEmpty
from apps.orders.forms import WALLET, CancelForm, CheckoutForm, PayForm, fresh_key
from apps.orders.models import Order, OrderPayment, OrderRefund
from apps.payments import selectors as payment_selectors
from apps.payments.models import PaymentMethod

PAGE_SIZE = 10


def _member(request: HttpRequest) -> User | None:
    """The signed-in shopper, or None for a staff account or system client (no orders)."""
    user = request.user
    if not isinstance(user, User) or getattr(user, "is_service_account", False):
        return None
    return user if user.has_perm("accounts.shop") else None


def _not_a_shopper(request: HttpRequest) -> HttpResponse:
    return render(request, "orders/not_a_shopper.html", status=403)


def _order_or_404(user: User, public_id: Any) -> Order:
    order = selectors.order_get(user=user, public_id=public_id)
    if order is None:
        raise Http404
    return order


def _amounts(order: Order) -> dict[str, Money]:
    """The order's amounts as Money, for the ``money`` filter."""
    names = (
        "subtotal",
        "sale_discount",
        "coupon_discount",
        "tax",
        "shipping_fee",
        "total",
        "refunded_amount",
    )
    return {name: order.money(getattr(order, name)) for name in names}


@dataclass(frozen=True)
class LineRow:
    name: str
    quantity: int
    unit_price: Money
    list_price: Money
    line_total: Money


def _line_rows(order: Order) -> list[LineRow]:
    language = get_language()
    return [
        LineRow(
            name=line.name(language),
            quantity=line.quantity,
            unit_price=order.money(line.unit_price),
            list_price=order.money(line.list_price),
            line_total=order.money(line.line_total),
        )
        for line in order.lines.all()
    ]


def _detail_url(order: Order) -> str:
    return reverse("orders:detail", args=[order.public_id])


# --- How to pay -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PayOptions:
    """What the member can pay with in a market: the wallet (and its balance) and the saved
    methods; ``short`` when the wallet holds less than ``amount``."""

    methods: list[PaymentMethod]
    balance: Money
    amount: Money

    @property
    def short(self) -> bool:
        return self.balance.amount < self.amount.amount

    @property
    def shortfall(self) -> Money:
        return Money(max(self.amount.amount - self.balance.amount, 0), self.amount.currency)

    @property
    def wallet_label(self) -> str:
        return str(OrderPayment.Method.WALLET.label)

    @property
    def default(self) -> str:
        if not self.short or not self.methods:
            return WALLET
        return str(self.methods[0].public_id)


def _pay_options(user: User, market: Market, amount: Money) -> PayOptions:
    wallet = payment_selectors.wallet_find(user=user, market=market)
    return PayOptions(
        methods=list(payment_selectors.payment_method_list(user=user, market=market)),
        balance=wallet.balance_money if wallet is not None else Money.zero(market.currency),
        amount=amount,
    )


def _pay(
    request: HttpRequest, user: User, order: Order, form: CheckoutForm | PayForm, prefix: str
) -> HttpResponse:
    """Pay ``order`` as the valid ``form`` says; PRG to the confirmation, or to the order's
    page with the reason (the order stays payable until it expires)."""
    choice = form.cleaned_data["payment"]
    key = form.pay_service_key(prefix)
    order_id = str(order.public_id)
    try:
        if choice == WALLET:
            outcome = services.order_pay_wallet(order_id=order_id, user=user, idempotency_key=key)
        else:
            outcome = services.order_pay_method(
                order_id=order_id, user=user, payment_method_id=choice, idempotency_key=key
            )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(_detail_url(order))
    if outcome.payment.status == OrderPayment.Status.CAPTURED:
        return HttpResponseRedirect(reverse("orders:complete", args=[order.public_id]))
    messages.info(
        request, _("Your payment is being confirmed by the provider; this page updates when it is.")
    )
    return HttpResponseRedirect(_detail_url(order))


# --- Checkout -------------------------------------------------------------------------------


def _coupon_param(request: HttpRequest) -> str | None:
    value = (request.POST.get("coupon") if request.method == "POST" else request.GET.get("coupon")) or ""
    value = value.strip()
    return value[:64] if value else None


def _checkout_render(
    request: HttpRequest,
    view: cart_selectors.CartView,
    options: PayOptions,
    form: CheckoutForm,
    *,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _member(request)
    coupon_id = _coupon_param(request)
    totals = cart_selectors.cart_totals(view=view, coupon_id=coupon_id, user=user)
    usable = list(coupon_selectors.usable_coupons(user=user, market=view.market)) if user is not None else []
    language = get_language()
    context = {
        "lines": view.lines,
        "totals": totals,
        "options": options,
        "form": form,
        "error": error,
        "coupon_choices": [
            {
                "id": str(c.public_id),
                "label": c.campaign.name(language),
                "selected": str(c.public_id) == coupon_id,
            }
            for c in usable
        ],
        "coupon_applied": coupon_id if totals.coupon is not None and totals.coupon.valid else None,
        "coupon_problem": totals.coupon.message
        if totals.coupon is not None and not totals.coupon.valid and getattr(totals.coupon, "message", None)
        else None,
    }
    return render(request, "orders/checkout.html", context, status=status)


def _checkout_form(options: PayOptions, data: Any = None, initial: Any = None) -> CheckoutForm:
    return CheckoutForm(data, initial=initial, methods=options.methods, wallet_label=options.wallet_label)


@personal_data
@login_required
@require_http_methods(["GET", "POST"])
def checkout_page(request: HttpRequest) -> HttpResponse:
    """GET: the cart's lines, the address, the totals and how to pay. POST: place the order
    from the cart, pay it, PRG to the confirmation (or to the order when paying failed)."""
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    market: Market = request.market  # type: ignore[attr-defined]
    cart = cart_selectors.member_cart_get(user_id=user.pk)
    view = cart_selectors.cart_get(cart=cart, market=market)
    if request.method == "POST":
        return _checkout_post(request, user, market, cart, view)
    if not view.lines:
        messages.info(request, _("Your cart is empty: add something to check out."))
        return HttpResponseRedirect(reverse("carts:page"))
    if any(line.issue for line in view.lines):
        messages.error(request, _("Some items in your cart need your attention before you check out."))
        return HttpResponseRedirect(reverse("carts:page"))
    coupon_id = _coupon_param(request)
    totals = cart_selectors.cart_totals(view=view, coupon_id=coupon_id, user=user)
    options = _pay_options(user, market, totals.total)
    initial = CheckoutForm.initial_for(user, market, options.default)
    if totals.coupon is not None and totals.coupon.valid:
        initial["coupon"] = coupon_id
    form = _checkout_form(options, initial=initial)
    return _checkout_render(request, view, options, form)


def _checkout_post(
    request: HttpRequest, user: User, market: Market, cart: Any, view: cart_selectors.CartView
) -> HttpResponse:
    coupon_id = _coupon_param(request)
    amount = (
        cart_selectors.cart_totals(view=view, coupon_id=coupon_id, user=user).total
        if view.lines
        else Money.zero(market.currency)
    )
    options = _pay_options(user, market, amount)
    form = _checkout_form(options, data=request.POST)
    if not form.is_valid():
        if not view.lines:
            return HttpResponseRedirect(reverse("carts:page"))
        return _checkout_render(request, view, options, form, status=400)
    address = form.address()
    order_key = f"checkout:{form.cleaned_data['order_key']}"
    try:
        try:
            placed = services.order_place(
                user=user,
                market=market,
                idempotency_key=order_key,
                from_cart=True,
                coupon_id=form.cleaned_data["coupon"] or None,
                shipping_address=address,
            )
        except IdempotencyKeyReused:
            # Two sends of one form raced past each other: the second finds the first's order.
            placed = services.order_place(
                user=user,
                market=market,
                idempotency_key=order_key,
                from_cart=True,
                coupon_id=form.cleaned_data["coupon"] or None,
                shipping_address=address,
            )
    except (AddressRequired, IdempotencyKeyReused) as exc:
        # The page stays; a key reused with another address (back, edit, send) gets new keys.
        data = request.POST.copy()
        data["order_key"], data["pay_key"] = fresh_key(), fresh_key()
        form = _checkout_form(options, data=data)
        form.is_valid()
        if not view.lines:
            return HttpResponseRedirect(reverse("carts:page"))
        return _checkout_render(request, view, options, form, error=exc.detail, status=exc.http_status)
    except OrderEmpty:
        messages.info(request, _("Your cart is empty: add something to check out."))
        return HttpResponseRedirect(reverse("carts:page"))
    except (CouponNotFound, NotApplicable) as exc:  # the coupon no longer fits: checkout without it
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("orders:checkout"))
    except DomainError as exc:  # stock, unavailable, purchase limit: the cart shows the lines
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("carts:page"))
    order = placed.order
    # The cart keeps its lines until the order is paid; then the order service takes the
    # bought units out (a failed payment leaves the shopper's cart as it was).
    if form.cleaned_data["save_default"]:
        user_profile_update(user=user, default_address=address)
    return _pay(request, user, order, form, "checkout-pay")


# --- After checkout -------------------------------------------------------------------------


def _payment_text(payment: OrderPayment | None) -> str:
    if payment is None:
        return ""
    if payment.method == OrderPayment.Method.PAYMENT_METHOD and payment.payment_method is not None:
        return payment.payment_method.display_label
    return str(payment.get_method_display())


@personal_data
@login_required
@require_GET
def order_complete(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    order = _order_or_404(user, public_id)
    payment = selectors.captured_payment(order)
    if payment is None:
        return HttpResponseRedirect(_detail_url(order))
    context = {
        "order": order,
        "amounts": _amounts(order),
        "paid": order.money(payment.amount),
        "payment_text": _payment_text(payment),
    }
    return render(request, "orders/complete.html", context)


@dataclass(frozen=True)
class HistoryRow:
    order: Order
    total: Money
    first_name: str
    more: int


@personal_data
@login_required
@require_GET
def order_history(request: HttpRequest) -> HttpResponse:
    """The member's orders, newest first, ``PAGE_SIZE`` a page."""
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    paginator = Paginator(selectors.order_list(user=user), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    language = get_language()
    rows = []
    for order in page.object_list:
        lines = list(order.lines.all())
        rows.append(
            HistoryRow(
                order=order,
                total=order.money(order.total),
                first_name=lines[0].name(language) if lines else "",
                more=max(len(lines) - 1, 0),
            )
        )
    return render(request, "orders/history.html", {"rows": rows, "page": page})


@dataclass(frozen=True)
class TimelineRow:
    status: str
    label: str
    at: Any
    reason: str
    by_staff: bool


def _timeline(order: Order) -> list[TimelineRow]:
    return [
        TimelineRow(
            status=change.to_status,
            label=str(Order.Status(change.to_status).label)
            if change.to_status in Order.Status.values
            else change.to_status,
            at=change.created_at,
            reason=selectors.reason_display(change.reason),
            by_staff=change.actor_kind == "staff",
        )
        for change in order.status_history.all()
    ]


def _cancellable(order: Order) -> bool:
    if order.status == Order.Status.PENDING:
        return True
    return (
        order.status == Order.Status.PAID
        and order.market.cancellation_policy != Market.CancellationPolicy.BEFORE_PAYMENT
    )


def _detail_render(
    request: HttpRequest,
    user: User,
    order: Order,
    *,
    pay_form: PayForm | None = None,
    cancel_form: CancelForm | None = None,
    status: int = 200,
) -> HttpResponse:
    payments = list(order.payments.all())
    captured = selectors.captured_payment(order)
    pending_payment = next((p for p in payments if p.status == OrderPayment.Status.PENDING), None)
    payable = (
        order.status == Order.Status.PENDING and pending_payment is None and order.expires_at > clock.now()
    )
    options = None
    if payable:
        options = _pay_options(user, order.market, order.money(order.total))
        if pay_form is None:
            pay_form = PayForm(
                initial={"payment": options.default, "pay_key": fresh_key()},
                methods=options.methods,
                wallet_label=options.wallet_label,
            )
    minutes_left = max(math.ceil((order.expires_at - clock.now()).total_seconds() / 60), 0)
    refunds: list[OrderRefund] = list(order.refunds.all())
    payment = captured or pending_payment
    context = {
        "order": order,
        "amounts": _amounts(order),
        "lines": _line_rows(order),
        "address": order.shipping_address or {},
        "payment": payment,
        "payment_amount": order.money(payment.amount) if payment is not None else None,
        "payment_text": _payment_text(captured or pending_payment),
        "payment_pending": pending_payment is not None,
        "refunds": [(refund, order.money(refund.amount)) for refund in refunds],
        "timeline": _timeline(order),
        "payable": payable,
        "options": options,
        "pay_form": pay_form,
        "minutes_left": minutes_left,
        "cancellable": _cancellable(order) and pending_payment is None,
        "cancel_form": cancel_form or CancelForm(),
        "has_receipt": selectors.order_receipt(order) is not None,
    }
    return render(request, "orders/detail.html", context, status=status)


@personal_data
@login_required
@require_GET
def order_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    return _detail_render(request, user, _order_or_404(user, public_id))


@personal_data
@login_required
@require_POST
def order_pay(request: HttpRequest, public_id: Any) -> HttpResponse:
    """ "Pay now" for a PENDING order, with the wallet or a saved method."""
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    order = _order_or_404(user, public_id)
    options = _pay_options(user, order.market, order.money(order.total))
    form = PayForm(request.POST, methods=options.methods, wallet_label=options.wallet_label)
    if not form.is_valid():
        return _detail_render(request, user, order, pay_form=form, status=400)
    return _pay(request, user, order, form, "order-pay")


@personal_data
@login_required
@require_POST
def order_cancel(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    order = _order_or_404(user, public_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _detail_render(request, user, order, cancel_form=form, status=400)
    try:
        cancelled = services.order_cancel(
            order_id=str(order.public_id), user=user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(_detail_url(order))
    refund = cancelled.refunds.order_by("-pk").first()
    if refund is None:
        messages.success(request, _("Order %(number)s was cancelled.") % {"number": cancelled.number})
    elif refund.destination == OrderPayment.Method.WALLET:
        messages.success(
            request,
            _("Order %(number)s was cancelled and %(amount)s was refunded to your Joopang wallet.")
            % {"number": cancelled.number, "amount": format_money(cancelled.money(refund.amount))},
        )
    else:
        messages.success(
            request,
            _("Order %(number)s was cancelled and %(amount)s will be refunded to your payment method.")
            % {"number": cancelled.number, "amount": format_money(cancelled.money(refund.amount))},
        )
    return HttpResponseRedirect(_detail_url(cancelled))


@personal_data
@login_required
@require_GET
def order_receipt(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The printable KR e-receipt (전자영수증); 404 when the order has none."""
    user = _member(request)
    if user is None:
        return _not_a_shopper(request)
    order = _order_or_404(user, public_id)
    receipt = selectors.order_receipt(order)
    if receipt is None:
        raise Http404
    language = get_language()
    context = {
        "order": order,
        "receipt": receipt,
        "lines": [
            {
                "name": line["name_ko"] if (language or "").startswith("ko") else line["name_en"],
                "quantity": line["quantity"],
                "unit_price": order.money(line["unit_price"]),
                "amount": order.money(line["amount"]),
            }
            for line in receipt.lines
        ],
        "shipping_fee": order.money(receipt.shipping_fee),
        "supply_amount": order.money(receipt.supply_amount),
        "vat": order.money(receipt.vat),
        "total": order.money(receipt.total),
        "payment_text": _payment_text(selectors.captured_payment(order)),
    }
    return render(request, "orders/receipt.html", context)

"""Wallet and payment error codes (API.md "Wallet"). Codes are never renamed or reused."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError

#: Provider decline codes shown to people in their language; others read as "declined".
DECLINE_REASONS = {
    "card_declined": _("the card issuer refused it"),
    "insufficient_funds": _("not enough funds on the card or account"),
    "invalid_token": _("the saved method is no longer valid; add it again"),
    "expired_card": _("the card has expired"),
    "not_found": _("the provider has no record of the payment"),
}


def decline_reason(code: str | None) -> str:
    """A provider decline code as a short phrase in the active language."""
    text = DECLINE_REASONS.get(code or "")
    return str(text) if text is not None else gettext("declined by the provider")


class InsufficientBalance(DomainError):
    code = "wallet.insufficient_balance"
    http_status = 402
    title = _("Not enough balance")
    message = _("Your wallet holds %(balance)s; this needs %(amount)s.")


class AmountInvalid(DomainError):
    code = "wallet.amount_invalid"
    http_status = 400
    title = _("Invalid amount")
    message = _("The amount must be a whole number of minor units (won or cents) of at least 1.")


class TopUpLimit(DomainError):
    """Over the market's per-top-up or per-day limit; ``period`` (``per_top_up`` or
    ``per_day``) says which, and the service passes the matching sentence as the detail."""

    code = "wallet.top_up_limit"
    http_status = 422
    title = _("Top-up limit")
    message = _("You can top up at most %(limit)s at a time.")
    daily_message = _("You can top up at most %(limit)s a day; %(remaining)s is left today.")


class AdjustmentLimit(DomainError):
    code = "wallet.adjustment_limit"
    http_status = 403
    title = _("Above your adjustment limit")
    message = _("You may adjust a wallet by at most %(limit)s. Ask operations for more.")


class AdjustmentInvalid(DomainError):
    code = "wallet.adjustment_invalid"
    http_status = 400
    title = _("Invalid wallet adjustment")
    message = _("An adjustment needs a non-zero amount and a reason.")


class WalletNotFound(DomainError):
    code = "wallet.not_found"
    http_status = 404
    title = _("No wallet")
    message = _("There is no such member or wallet in your markets.")


class TopUpNotFound(DomainError):
    code = "wallet.top_up_not_found"
    http_status = 404
    title = _("No such top-up")
    message = _("There is no top-up %(top_up)s in your wallet.")


class MethodNotFound(DomainError):
    code = "payment_method.not_found"
    http_status = 404
    title = _("No such payment method")
    message = _("There is no payment method %(payment_method)s among yours.")


class MethodInvalid(DomainError):
    code = "payment_method.invalid"
    http_status = 400
    title = _("Invalid payment method")
    message = _(
        "Give the kind (bank_account or card), a name of at most 40 characters and the last four digits."
    )


class CardNumberRefused(DomainError):
    """Something that looks like a full card or account number was sent. The value is never
    echoed, stored or logged: the refusal names no field value."""

    code = "payment_method.card_number_refused"
    http_status = 400
    title = _("Never send a card number")
    message = _(
        "Do not enter a full card or account number, or a security code. "
        "Give a name for the method and its last four digits only."
    )


class MethodDeclined(DomainError):
    code = "payment_method.declined"
    http_status = 422
    title = _("Payment method declined")
    message = _("The payment provider did not approve this payment method (%(reason)s).")


class MethodLimit(DomainError):
    code = "payment_method.limit"
    http_status = 422
    title = _("Too many payment methods")
    message = _("You can save at most %(max)s payment methods. Remove one first.")


class MethodMarketMismatch(DomainError):
    code = "payment_method.market_mismatch"
    http_status = 422
    title = _("Method of another market")
    message = _("This payment method was registered for %(method_market)s and cannot pay in %(market)s.")


class PaymentDeclined(DomainError):
    code = "payment.declined"
    http_status = 402
    title = _("Payment declined")
    message = _("The payment provider declined the charge (%(reason)s). Nothing was charged.")


class ProviderUnavailable(DomainError):
    code = "payment.provider_unavailable"
    http_status = 503
    title = _("Payments unavailable")
    message = _("The payment provider cannot be reached right now. Nothing was charged; try again shortly.")

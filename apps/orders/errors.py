"""Order error codes (API.md "Orders and payments"). Codes are never renamed or reused."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class OrderNotFound(DomainError):
    code = "order.not_found"
    http_status = 404
    title = _("No such order")
    message = _("There is no order %(order)s among yours.")


class OrderEmpty(DomainError):
    code = "order.empty"
    http_status = 422
    title = _("Nothing to order")
    message = _("Add items to the cart, or list the items to order.")


class OrderItemsInvalid(DomainError):
    code = "order.items_invalid"
    http_status = 400
    title = _("Invalid items")
    message = _("Send either items (each a sku and a quantity of at least 1) or from_cart: true.")


class AddressRequired(DomainError):
    code = "order.address_required"
    http_status = 400
    title = _("Shipping address required")
    message = _(
        "Give a shipping address with a recipient, an address line, a city, a postal code and a country."
    )


class NotPayable(DomainError):
    code = "order.not_payable"
    http_status = 409
    title = _("Order cannot be paid")
    message = _("Order %(order)s is %(status)s and cannot be paid.")


class NotCancellable(DomainError):
    code = "order.not_cancellable"
    http_status = 409
    title = _("Order cannot be cancelled")
    message = _("Order %(order)s is %(status)s and can no longer be cancelled.")


class InvalidTransition(DomainError):
    code = "order.invalid_transition"
    http_status = 409
    title = _("Not allowed in this status")
    message = _("Order %(order)s cannot go from %(from_status)s to %(to_status)s.")


class ReturnWindowClosed(DomainError):
    code = "order.return_window_closed"
    http_status = 409
    title = _("Return window closed")
    message = _("Returns for order %(order)s closed on %(closed_on)s.")


class RefundInvalid(DomainError):
    code = "order.refund_invalid"
    http_status = 422
    title = _("Invalid refund")
    message = _("Nothing of these lines is left to refund.")


class TransitionNotAllowed(DomainError):
    """A role may not take this transition (CS outside its policy)."""

    code = "order.transition_not_allowed"
    http_status = 403
    title = _("Not allowed for your role")
    message = _("Your role may not move an order to %(to_status)s.")


class PaymentPending(DomainError):
    """Not an error for the client so much as a state: shown when an answer is awaited."""

    code = "order.payment_pending"
    http_status = 409
    title = _("Payment being confirmed")
    message = _("A payment of order %(order)s is still being confirmed by the provider.")

"""Cart error codes (API.md "Cart"). Stock shortage reuses ``inventory.insufficient_stock``."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class QuantityInvalid(DomainError):
    code = "cart.quantity_invalid"
    http_status = 400
    title = _("Invalid quantity")
    message = _("The quantity must be a whole number of at least 1.")


class PurchaseLimitExceeded(DomainError):
    code = "cart.purchase_limit_exceeded"
    http_status = 422
    title = _("Purchase limit exceeded")
    message = _("You can buy at most %(limit)s of %(sku)s per order.")


class SkuUnavailable(DomainError):
    code = "cart.sku_unavailable"
    http_status = 422
    title = _("Not available")
    message = _("%(sku)s is not sold in this market.")


class TooManyLines(DomainError):
    code = "cart.too_many_lines"
    http_status = 422
    title = _("Cart is full")
    message = _("A cart holds at most %(max)s different items.")


class CartNotFound(DomainError):
    code = "cart.not_found"
    http_status = 404
    title = _("No cart")
    message = _("This cart does not exist or has expired.")


class CartTokenRequired(DomainError):
    code = "cart.token_required"
    http_status = 400
    title = _("Cart token required")
    message = _("Send the guest cart's token in the X-Cart-Token header.")


class ItemNotFound(DomainError):
    code = "cart.item_not_found"
    http_status = 404
    title = _("Not in the cart")
    message = _("%(sku)s is not in the cart.")


# Moved to the coupons app (issue 21); kept importable from here for older imports.
from apps.coupons.errors import CouponNotFound  # noqa: E402, F401

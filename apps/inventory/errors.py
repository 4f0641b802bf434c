from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class TooManySkus(DomainError):
    code = "inventory.too_many_skus"
    http_status = 400
    title = _("Too many SKUs")
    message = _("Ask for at most %(max)s SKUs at a time.")


class OnHandBelowReserved(DomainError):
    code = "inventory.on_hand_below_reserved"
    http_status = 409
    title = _("Stock below reservations")
    message = _(
        "On hand cannot be set to %(on_hand)s: %(reserved)s units of this SKU are reserved in this warehouse."
    )


class StockChanged(DomainError):
    code = "inventory.stock_changed"
    http_status = 409
    title = _("Stock changed meanwhile")
    message = _("On hand is now %(on_hand)s, not %(expected)s: reload and count again.")


class StockLevelExists(DomainError):
    code = "inventory.stock_level_exists"
    http_status = 409
    title = _("Stock row already exists")
    message = _("This SKU already has a stock row in warehouse %(warehouse)s: change its count instead.")


class InsufficientStock(DomainError):
    """``items``: one ``{"sku", "requested", "available"}`` per short SKU (the problem body
    carries the list)."""

    code = "inventory.insufficient_stock"
    http_status = 409
    title = _("Not enough stock")
    message = _("Not enough stock for %(skus)s.")


class NegativeStock(DomainError):
    code = "inventory.negative_stock"
    http_status = 409
    title = _("Stock would go negative")
    message = _(
        "A change of %(delta)s would leave %(on_hand)s on hand below zero or below the %(reserved)s "
        "units reserved."
    )


class ReservationNotFound(DomainError):
    code = "inventory.reservation_not_found"
    http_status = 404
    title = _("No reservation")
    message = _("There is no stock reservation for %(owner)s.")


class ReservationExpired(DomainError):
    code = "inventory.reservation_expired"
    http_status = 409
    title = _("Reservation expired")
    message = _(
        "The stock reservation for %(owner)s expired and %(sku)s can no longer be covered "
        "(%(available)s available)."
    )


class ReservationReleased(DomainError):
    code = "inventory.reservation_released"
    http_status = 409
    title = _("Reservation released")
    message = _("The stock reservation for %(owner)s was released and cannot be committed.")


class QuantityInvalid(DomainError):
    code = "inventory.quantity_invalid"
    http_status = 400
    title = _("Invalid quantity")
    message = _("Quantities must be whole numbers of at least 1.")


class SkuNotFound(DomainError):
    code = "inventory.sku_not_found"
    http_status = 404
    title = _("Unknown SKU")
    message = _("There is no SKU %(sku)s.")


class WarehouseNotFound(DomainError):
    code = "inventory.warehouse_not_found"
    http_status = 404
    title = _("Unknown warehouse")
    message = _("There is no warehouse %(warehouse)s.")


class StockLevelNotFound(DomainError):
    code = "inventory.stock_level_not_found"
    http_status = 404
    title = _("No stock row")
    message = _("SKU %(sku)s has no stock row in warehouse %(warehouse)s.")


class AdjustmentInvalid(DomainError):
    code = "inventory.adjustment_invalid"
    http_status = 400
    title = _("Invalid adjustment")
    message = _("A %(kind)s cannot change stock by %(delta)s.")


class TransferInvalid(DomainError):
    code = "inventory.transfer_invalid"
    http_status = 400
    title = _("Invalid transfer")
    message = _("A transfer needs two different warehouses of one market and a quantity of at least 1.")

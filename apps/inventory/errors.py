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

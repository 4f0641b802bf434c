"""Coupon error codes (API.md "Coupons"). ``coupon.not_found`` moved here from carts."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class CouponNotFound(DomainError):
    code = "coupon.not_found"
    http_status = 404
    title = _("No coupon")
    message = _("There is no coupon %(coupon)s for you.")


class CampaignNotFound(DomainError):
    code = "coupon.campaign_not_found"
    http_status = 404
    title = _("No such campaign")
    message = _("There is no coupon campaign %(campaign)s.")


class SoldOut(DomainError):
    code = "coupon.sold_out"
    http_status = 409
    title = _("All claimed")
    message = _("Every coupon of this campaign has been claimed.")


class AlreadyClaimed(DomainError):
    code = "coupon.already_claimed"
    http_status = 409
    title = _("Already claimed")
    message = _("You already have the most coupons of this campaign one member may claim (%(limit)s).")


class CampaignInactive(DomainError):
    code = "coupon.campaign_inactive"
    http_status = 409
    title = _("Campaign not running")
    message = _("This campaign is not running now.")


class NotStarted(DomainError):
    code = "coupon.not_started"
    http_status = 409
    title = _("Not started yet")
    message = _("Claiming opens at %(starts_at)s.")


class MarketMismatch(DomainError):
    code = "coupon.market_mismatch"
    http_status = 403
    title = _("Not for this market")
    message = _("This campaign does not run in the %(market)s market.")


class NotApplicable(DomainError):
    """The coupon cannot discount this order; ``reason`` says why (a stable sub-code)."""

    code = "coupon.not_applicable"
    http_status = 422
    title = _("Coupon cannot be used")
    message = _("This coupon cannot be used for this order: %(reason_text)s")


class CampaignInvalid(DomainError):
    code = "coupon.campaign_invalid"
    http_status = 400
    title = _("Invalid campaign")
    message = _("Some campaign fields are missing or invalid. See errors for details.")


class CampaignTransitionInvalid(DomainError):
    code = "coupon.campaign_transition_invalid"
    http_status = 409
    title = _("Not allowed in this status")
    message = _("A campaign cannot go from %(from_status)s to %(to_status)s.")


#: ``coupon.not_applicable`` reasons (stable sub-codes) and their text.
NOT_APPLICABLE_REASONS = {
    "expired": _("it has expired"),
    "used_up": _("it has no uses left"),
    "not_usable": _("it is held by another order, used or revoked"),
    "campaign_inactive": _("its campaign is not running"),
    "market": _("it is not for this market"),
    "min_order_amount": _("the order is below the minimum of %(min_order_amount)s"),
    "no_eligible_items": _("no item of the order is eligible"),
}

"""Campaigns (marketing and ops): create and edit with every field validated, move through
draft -> active <-> paused -> ended, revoke unused coupons, expire the ones past their date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.catalog.models import Category, Product
from apps.core import clock
from apps.core.outbox import publish
from apps.coupons.errors import CampaignInvalid, CampaignNotFound, CampaignTransitionInvalid
from apps.coupons.models import Campaign, Coupon
from apps.coupons.selectors import campaign_scopes_forget
from apps.coupons.services.claims import campaign_rules_forget
from apps.markets.models import Market

S = Campaign.Status
TRANSITIONS = {
    S.DRAFT: {S.ACTIVE, S.ENDED},
    S.ACTIVE: {S.PAUSED, S.ENDED},
    S.PAUSED: {S.ACTIVE, S.ENDED},
    S.ENDED: set(),
}
FIELDS = (
    "name_ko",
    "name_en",
    "discount_type",
    "discount_value",
    "max_discount",
    "min_order_amount",
    "markets",
    "categories",
    "products",
    "excluded_products",
    "total_quantity",
    "per_user_limit",
    "uses_per_coupon",
    "starts_at",
    "ends_at",
    "valid_days",
)


def _int(
    errors: list[dict[str, str]], data: dict[str, Any], name: str, *, low: int, high: int, optional: bool
) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(
            {
                "field": name,
                "code": "invalid",
                "message": _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high},
            }
        )
        return None
    return value


def campaign_clean(data: dict[str, Any]) -> dict[str, Any]:
    """Every field checked, with a localized message per field.
    Raises: coupon.campaign_invalid (``errors``: field, code, message)."""
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for name in ("name_ko", "name_en"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 120:
            errors.append(
                {"field": name, "code": "invalid", "message": _("Give a name of 1 to 120 characters.")}
            )
        else:
            out[name] = value.strip()
    kind = data.get("discount_type")
    if kind not in Campaign.DiscountType.values:
        errors.append({"field": "discount_type", "code": "invalid", "message": _("Choose fixed or percent.")})
    out["discount_type"] = kind
    high = 100 if kind == Campaign.DiscountType.PERCENT else 10**12
    out["discount_value"] = _int(errors, data, "discount_value", low=1, high=high, optional=False)
    out["max_discount"] = _int(errors, data, "max_discount", low=1, high=10**12, optional=True)
    if kind == Campaign.DiscountType.FIXED and out["max_discount"] is not None:
        errors.append(
            {
                "field": "max_discount",
                "code": "invalid",
                "message": _("A cap applies to percent discounts only."),
            }
        )
    out["min_order_amount"] = _int(errors, data, "min_order_amount", low=0, high=10**12, optional=True) or 0
    out["total_quantity"] = _int(errors, data, "total_quantity", low=1, high=10**9, optional=True)
    out["per_user_limit"] = _int(errors, data, "per_user_limit", low=1, high=100, optional=True) or 1
    out["uses_per_coupon"] = _int(errors, data, "uses_per_coupon", low=1, high=100, optional=True) or 1
    out["valid_days"] = _int(errors, data, "valid_days", low=1, high=3650, optional=True)
    starts, ends = data.get("starts_at"), data.get("ends_at")
    if not isinstance(starts, dt.datetime) or not isinstance(ends, dt.datetime) or ends <= starts:
        errors.append(
            {"field": "ends_at", "code": "invalid", "message": _("The campaign must end after it starts.")}
        )
    out["starts_at"], out["ends_at"] = starts, ends
    codes = data.get("markets") or []
    markets = list(Market.objects.filter(code__in=codes)) if isinstance(codes, list) else []
    if not markets or len(markets) != len(set(codes)):
        errors.append({"field": "markets", "code": "invalid", "message": _("Choose at least one market.")})
    money_fields = (
        (kind == Campaign.DiscountType.FIXED)
        or out["max_discount"] is not None
        or out["min_order_amount"] > 0
    )
    currencies = {m.currency for m in markets}
    if money_fields and len(currencies) > 1:
        errors.append(
            {
                "field": "markets",
                "code": "one_currency",
                "message": _(
                    "A campaign with amounts (a fixed discount, a cap or a minimum) runs in one market."
                ),
            }
        )
    out["markets"] = markets
    out["currency"] = next(iter(currencies)) if len(currencies) == 1 else ""
    for name, model in (("categories", Category), ("products", Product), ("excluded_products", Product)):
        ids = data.get(name) or []
        if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            errors.append({"field": name, "code": "invalid", "message": _("Give a list of ids.")})
            out[name] = []
            continue
        found = list(model.objects.filter(pk__in=ids))  # type: ignore[attr-defined]
        if len(found) != len(set(ids)):
            errors.append({"field": name, "code": "not_found", "message": _("Some of these do not exist.")})
        out[name] = found
    if errors:
        err = CampaignInvalid()
        err.params["errors"] = errors
        raise err
    return out


def _apply(campaign: Campaign, cleaned: dict[str, Any]) -> None:
    for name in ("markets", "categories", "products", "excluded_products"):
        getattr(campaign, name).set(cleaned[name])


@transaction.atomic(durable=True)
def campaign_create(*, data: dict[str, Any], actor: User) -> Campaign:
    """A new campaign in draft. Raises: coupon.campaign_invalid."""
    cleaned = campaign_clean(data)
    now = clock.now()
    campaign = Campaign.objects.create(
        **{
            k: v
            for k, v in cleaned.items()
            if k not in ("markets", "categories", "products", "excluded_products")
        },
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    _apply(campaign, cleaned)
    return campaign


@transaction.atomic(durable=True)
def campaign_update(*, campaign_id: int, data: dict[str, Any], actor: User) -> Campaign:
    """Edit a campaign (every field checked again). A running campaign cannot drop below
    what it already issued. Locks: the campaign row. Raises: coupon.campaign_invalid."""
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignNotFound(campaign=str(campaign_id))
    cleaned = campaign_clean(data)
    if cleaned["total_quantity"] is not None and cleaned["total_quantity"] < campaign.issued_count:
        err = CampaignInvalid()
        err.params["errors"] = [
            {
                "field": "total_quantity",
                "code": "below_issued",
                "message": _("%(issued)s coupons are already issued.") % {"issued": campaign.issued_count},
            }
        ]
        raise err
    for name, value in cleaned.items():
        if name not in ("markets", "categories", "products", "excluded_products"):
            setattr(campaign, name, value)
    campaign.updated_at = clock.now()
    campaign.save()
    _apply(campaign, cleaned)
    transaction.on_commit(lambda: campaign_rules_forget(campaign.pk))
    return campaign


@transaction.atomic(durable=True)
def campaign_transition(*, campaign_id: int, to_status: str, actor: User) -> Campaign:
    """draft -> active <-> paused -> ended (any -> ended). Locks: the campaign row.
    Raises: coupon.campaign_transition_invalid."""
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignNotFound(campaign=str(campaign_id))
    if to_status not in TRANSITIONS.get(Campaign.Status(campaign.status), set()):
        raise CampaignTransitionInvalid(from_status=campaign.status, to_status=to_status)
    Campaign.objects.filter(pk=campaign.pk, status=campaign.status).update(
        status=to_status, updated_at=clock.now()
    )
    campaign.status = to_status
    transaction.on_commit(lambda: campaign_rules_forget(campaign.pk))
    transaction.on_commit(campaign_scopes_forget)  # a queryset update sends no signal
    return campaign


@transaction.atomic(durable=True)
def coupons_revoke(*, campaign_id: int, actor: User, reason: str, coupon_ids: list[Any] | None = None) -> int:
    """Take back (회수) unused coupons: the listed ones, or every unused one of the campaign.
    Held, used and expired coupons are left alone. Audited (who, when, why).
    Locks: the coupons' rows. Emits: coupon.revoked per coupon."""
    qs = Coupon.objects.filter(campaign_id=campaign_id, status=Coupon.Status.ISSUED)
    if coupon_ids is not None:
        qs = qs.filter(public_id__in=coupon_ids)
    rows = list(qs.select_for_update().order_by("pk").values_list("pk", "public_id", "user_id"))
    now = clock.now()
    Coupon.objects.filter(pk__in=[pk for pk, _, _ in rows], status=Coupon.Status.ISSUED).update(
        status=Coupon.Status.REVOKED, revoked_at=now, revoked_by=actor, revoke_reason=reason[:300]
    )
    for _pk, public_id, user_id in rows:
        publish(
            type="coupon.revoked",
            aggregate_type="coupon_campaign",
            aggregate_id=campaign_id,
            market=None,
            payload={"coupon_id": str(public_id), "user_id": user_id, "reason": reason, "actor_id": actor.pk},
        )
    return len(rows)


def coupons_expire_due(*, now: dt.datetime | None = None) -> int:
    """Beat: ready coupons past their date become expired (held ones finish with their order)."""
    now = now or clock.now()
    return Coupon.objects.filter(status=Coupon.Status.ISSUED, expires_at__lte=now).update(
        status=Coupon.Status.EXPIRED
    )

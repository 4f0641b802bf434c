"""Marketing (and ops): live campaigns' burn-down, issuance success rate, remaining."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.dashboard.common import (
    PRIMARY,
    admin_link,
    chart_json,
    chart_options,
    percent_display,
    ratio,
)
from apps.core import clock
from apps.core.formatting import format_datetime, format_number
from apps.coupons import metrics as coupon_metrics
from apps.coupons.models import Campaign, Coupon
from apps.markets.models import Market

#: Campaigns shown at most.
CAMPAIGN_LIMIT = 6
#: A campaign running longer than this many hours has a burn-down by day, else by hour.
HOURLY_BURN_DOWN_HOURS = 48
#: The most points of a burn-down (the latest ones; the count before them is carried).
BURN_DOWN_POINTS = 90


def live_campaigns(*, market_codes: list[str], now: dt.datetime) -> list[dict[str, Any]]:
    """Active campaigns inside their window in one of ``market_codes``, soonest ending first."""
    ids = (
        Campaign.objects.filter(
            status=Campaign.Status.ACTIVE, starts_at__lte=now, ends_at__gt=now, markets__code__in=market_codes
        )
        .values("pk")
        .distinct()
    )
    return [
        dict(row)
        for row in Campaign.objects.filter(pk__in=ids)
        .order_by("ends_at", "pk")
        .values("pk", "name_ko", "name_en", "total_quantity", "issued_count", "starts_at", "ends_at")[
            :CAMPAIGN_LIMIT
        ]
    ]


def rejected_totals(campaign_ids: list[int]) -> dict[int, int]:
    """Refused claims per campaign counted by ``coupons.metrics`` (one cache round trip)."""
    reasons = (*coupon_metrics.REASONS, "error")
    keys = {coupon_metrics.rejected_key(pk, reason): pk for pk in campaign_ids for reason in reasons}
    totals = dict.fromkeys(campaign_ids, 0)
    if not keys:
        return totals
    try:
        values = cache.get_many(list(keys))
    except Exception:  # noqa: BLE001 - the cache down: no refusals known, not a broken page
        return totals
    for key, value in values.items():
        totals[keys[key]] += int(value or 0)
    return totals


def coupons_section(
    *, markets: list[Market], language: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Live campaigns: issued, remaining, issuance success rate, and a burn-down (coupons
    left after each hour or day since the start; issued so far for an unlimited campaign).
    Two queries (the campaigns, their claims per hour) and one cache read."""
    now = now or clock.now()
    campaigns = live_campaigns(market_codes=[m.code for m in markets], now=now)
    ids = [c["pk"] for c in campaigns]
    hourly: dict[int, dict[dt.datetime, int]] = defaultdict(dict)
    if ids:
        for row in (
            Coupon.objects.filter(campaign_id__in=ids)
            .annotate(hour=TruncHour("claimed_at", tzinfo=dt.UTC))
            .order_by()
            .values("campaign_id", "hour")
            .annotate(n=Count("pk"))
        ):
            hour = row["hour"].astimezone(dt.UTC)
            hourly[row["campaign_id"]][hour] = hourly[row["campaign_id"]].get(hour, 0) + row["n"]
    rejected = rejected_totals(ids)
    zone = timezone.get_current_timezone()
    out = []
    for campaign in campaigns:
        pk = campaign["pk"]
        issued = int(campaign["issued_count"])
        total = campaign["total_quantity"]
        refused = rejected[pk]
        rate = ratio(issued, issued + refused)
        points = burn_down(
            claims=hourly.get(pk, {}),
            starts_at=campaign["starts_at"],
            ends_at=campaign["ends_at"],
            now=now,
            zone=zone,
        )
        limited = total is not None
        series = [(total - n) if limited else n for _label, n in points]
        name = campaign["name_ko"] if language.startswith("ko") else campaign["name_en"]
        out.append(
            {
                "id": pk,
                "name": name,
                "total": total,
                "issued": issued,
                "claimed": sum(hourly.get(pk, {}).values()),
                "remaining": None if total is None else max(total - issued, 0),
                "remaining_display": _("Unlimited")
                if total is None
                else format_number(max(total - issued, 0), language),
                "issued_display": format_number(issued, language),
                "refused": refused,
                "success_rate": rate,
                "success_rate_display": percent_display(rate, language),
                "ends_display": format_datetime(
                    campaign["ends_at"], language, tz=str(zone), fmt="short", zone=True
                ),
                "burn_down": series,
                "chart": chart_json(
                    [label for label, _n in points],
                    [
                        {
                            "label": _("Coupons left") if limited else _("Coupons issued"),
                            "data": series,
                            "borderColor": PRIMARY,
                            "backgroundColor": PRIMARY,
                            "stepped": True,
                        }
                    ],
                ),
                "chart_options": chart_options(legend=False),
                "link": admin_link("admin:coupons_campaign_change", pk),
            }
        )
    return {"campaigns": out}


def burn_down(
    *,
    claims: dict[dt.datetime, int],
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    now: dt.datetime,
    zone: Any,
) -> list[tuple[str, int]]:
    """``(label, coupons claimed up to the end of that bucket)`` from the start to now, by
    hour for campaigns of up to ``HOURLY_BURN_DOWN_HOURS``, else by local day; the last
    ``BURN_DOWN_POINTS`` buckets (claims before them are carried into the first)."""
    until = min(now, ends_at)
    hourly = (ends_at - starts_at) <= dt.timedelta(hours=HOURLY_BURN_DOWN_HOURS)
    key: Callable[[dt.datetime], Any]
    buckets: list[Any]
    if hourly:
        first = starts_at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        buckets = []
        cursor = first
        while cursor <= until:
            buckets.append(cursor)
            cursor += dt.timedelta(hours=1)

        def key(instant: dt.datetime) -> Any:
            return instant.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)

        def label(bucket: Any) -> str:
            return str(bucket.astimezone(zone).strftime("%m-%d %H:00"))
    else:
        local_zone = zone if isinstance(zone, dt.tzinfo) else ZoneInfo(str(zone))
        first_day = starts_at.astimezone(local_zone).date()
        last_day = until.astimezone(local_zone).date()
        buckets = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]

        def key(instant: dt.datetime) -> Any:
            return instant.astimezone(local_zone).date()

        def label(bucket: Any) -> str:
            return str(bucket.strftime("%m-%d"))

    per_bucket: dict[Any, int] = defaultdict(int)
    for hour, n in claims.items():
        per_bucket[key(hour)] += n
    if not buckets:
        return []
    shown = buckets[-BURN_DOWN_POINTS:]
    running = sum(n for bucket, n in per_bucket.items() if bucket < shown[0])
    points = []
    for bucket in shown:
        running += per_bucket.get(bucket, 0)
        points.append((label(bucket), running))
    return points

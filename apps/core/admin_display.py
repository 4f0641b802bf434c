"""Cells and building blocks shared by every app's back-office screens (issue 15).

Money is shown formatted for its currency in the staff member's language ("₩52,100",
"$40.99"), never as raw minor units; times in the active time zone (the admin activates
the market's, see ``joopang.admin_site``) with the zone named ("오전 11:56 KST").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from apps.core.formatting import format_datetime, format_money
from apps.core.money import Money


def money_cell(amount: int | None, currency: str | None) -> str | None:
    """``None`` (an empty cell) when there is no amount."""
    if amount is None or not currency:
        return None
    return format_money(Money(int(amount), currency))


def datetime_cell(value: dt.datetime | None, time_zone: str | None = None) -> str | None:
    """An aware datetime in ``time_zone`` (default: the active one) with its abbreviation,
    e.g. ``2026. 11. 30. 오전 11:56 KST`` or ``Nov 29, 2026, 9:56 PM EST``."""
    if value is None:
        return None
    zone = time_zone or getattr(timezone.get_current_timezone(), "key", None) or "UTC"
    return format_datetime(value, tz=zone, zone=True)


class ReadOnlyAdminMixin:
    """Viewable only, for everyone (superusers too): audit and evidence rows, derived
    tables and security records are written by code, never by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

"""Query parameters of the wallet ledger (``GET /wallet/transactions``), validated strictly:
a value that cannot be honoured is a ``request.invalid`` field error.

Dates are the market's: ``created_from=2025-03-01`` starts at midnight of 1 March in the
market's time zone and ``created_to=2025-03-31`` runs to the end of 31 March (a date is a
whole local day). A date-time is taken as given (without an offset, in the market's time
zone); ``created_to`` as a date-time is exclusive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.markets.models import Market
from apps.payments.models import WalletEntry


def parse_moment(value: str, *, market: Market, end: bool) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware instant. A date is the market's local day:
    its start, or (``end``) the start of the next day. Raises ValueError."""
    zone = ZoneInfo(market.time_zone)
    text = value.strip()
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        if end:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


class MomentField(forms.CharField):
    default_error_messages = {
        "invalid": _("Enter an ISO 8601 date (2025-03-01) or date and time (2025-03-01T09:30:00+09:00).")
    }

    def __init__(self, *, end: bool, **kwargs: Any) -> None:
        self.end = end
        self.market: Market | None = None
        super().__init__(required=False, max_length=40, **kwargs)

    def clean(self, value: Any) -> dt.datetime | None:  # type: ignore[override]
        text = super().clean(value)
        if not text:
            return None
        assert self.market is not None
        try:
            return parse_moment(text, market=self.market, end=self.end)
        except (ValueError, OverflowError) as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc


class TransactionListForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), required=False, choices=[("", ""), *WalletEntry.Kind.choices])
    created_from = MomentField(label=_("created from"), end=False)
    created_to = MomentField(label=_("created to"), end=True)

    def __init__(self, data: Any, *, market: Market) -> None:
        super().__init__(data)
        for name in ("created_from", "created_to"):
            field = self.fields[name]
            assert isinstance(field, MomentField)
            field.market = market

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start >= end:
            self.add_error(
                "created_to",
                forms.ValidationError(_("The end must not be before the start."), code="before_start"),
            )
        return data

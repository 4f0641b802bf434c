"""Back-office list exports to CSV and XLSX (issue 23, item 2) with django-import-export,
styled by unfold (``unfold.contrib.import_export``'s templates and ``ExportForm``).

The rules every export follows, so a spreadsheet from one list reads like the others:

* **The rows are the list's rows**: the changelist's queryset for the request, so the
  staff member's market scope, the filters and the search apply (the "Export" button
  carries the list's query string, the export form posts back to it).
* **Explicit columns** (a ``Resource`` per list, no model introspection): nothing beyond
  what the list shows (no phone numbers, no addresses), headers through gettext in the
  staff member's language.
* **Money** as integer minor units with the currency in a column of its own (``52100``,
  ``KRW``; ``4099``, ``USD``): a spreadsheet sums them, nothing is rounded.
* **Times in UTC**, ISO 8601 (``2026-11-30T01:56:00Z``), the header says "(UTC)": one
  zone for every market in one file. A day of the market's calendar (the aggregates'
  ``date``) stays that day.
* **Only who may view the list may export it** (``has_view_permission``, Django's view
  or change permission); anyone else gets 403.
* **Formulae are never run**: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return is written with a leading apostrophe, in CSV and XLSX alike
  (``formula_safe``). django-import-export's own ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT``
  only drops a leading ``=`` and turns every cell into text (``None`` becomes "None",
  numbers stop being numbers), so it stays off.
* **CSV** is UTF-8 with a byte-order mark (spreadsheets then read Korean correctly).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import tablib
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from import_export.admin import ExportMixin
from import_export.fields import Field
from import_export.formats.base_formats import CSV, XLSX
from import_export.resources import Resource
from unfold.contrib.import_export.forms import ExportForm

#: A text cell starting with one of these is a formula (or becomes one) in a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows as text, never runs; numbers and empty cells as
    they are (``-5`` the integer is a number, ``"-5"`` typed into a reason is text)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def formula_safe(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy of ``dataset`` with every cell through ``formula_safe_cell`` (headers too)."""
    safe = tablib.Dataset(headers=[formula_safe_cell(h) for h in dataset.headers or []])
    safe.title = dataset.title
    for row in dataset:
        safe.append([formula_safe_cell(cell) for cell in row])
    return safe


class SafeCSV(CSV):
    CONTENT_TYPE = "text/csv; charset=utf-8"

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Any:
        return super().export_data(formula_safe(dataset), **kwargs)


class SafeXLSX(XLSX):
    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Any:
        return super().export_data(formula_safe(dataset), **kwargs)


EXPORT_FORMATS = [SafeCSV, SafeXLSX]


def utc_iso(value: dt.datetime | None) -> str | None:
    """``2026-11-30T01:56:00Z``; ``None`` (an empty cell) when there is no time."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ListResource(Resource):
    """The columns of one list's export: declare them with ``column``."""

    @classmethod
    def get_display_name(cls) -> str:  # the export form's (hidden) resource choice
        return cls.__name__


def column(header: Any, read: Callable[[Any], Any]) -> Field:
    """A column of an export: its header (a lazy translation) and how to read the cell
    from a row. The value is written as returned: ints stay numbers in XLSX."""
    return Field(column_name=header, dehydrate_method=read, readonly=True)


class ListExportMixin(ExportMixin):
    """Put before unfold's ``ModelAdmin``: an "Export" button on the list (unfold's
    template) and ``<changelist>/export/``, the form that picks CSV or XLSX and answers
    with the file of the list's rows. Set ``resource_classes`` and ``export_name``."""

    export_form_class = ExportForm
    #: The CSV file starts with a BOM: spreadsheets then read UTF-8 (Korean) correctly.
    to_encoding = "utf-8-sig"
    #: The file name's stem: ``<export_name>-20261130-0156Z.csv``.
    export_name = "export"

    def get_export_formats(self) -> list[Any]:
        return list(EXPORT_FORMATS)

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Who may view the list (view or change permission) may export it."""
        return bool(self.has_view_permission(request))  # type: ignore[attr-defined]

    def export_action(self, request: HttpRequest) -> HttpResponse:
        """A filter value the list refuses (a malformed date) is the list's own answer,
        ``?e=1``, not a server error."""
        try:
            response: HttpResponse = super().export_action(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect("../?e=1")
        return response

    def get_export_filename(self, request: HttpRequest, queryset: Any, file_format: Any) -> str:
        stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%d-%H%MZ")
        return f"{self.export_name}-{stamp}.{file_format.get_extension()}"

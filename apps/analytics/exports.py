"""Report rows written as JSON, CSV or Parquet, with the same values in each.

JSON: dates ISO 8601, amounts integers (minor units), ``usage_rate`` a decimal string.
CSV: the same texts, an empty cell for ``None``, no BOM; a text cell that a spreadsheet
would read as a formula gets a leading apostrophe. Parquet (pyarrow): ``date32`` dates,
``int64`` counts and amounts, ``decimal128(9, 4)`` rates, ``string`` texts.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

FORMATS = ("json", "csv", "parquet")
#: Columns holding free text (a formula guard applies in CSV).
TEXT_COLUMNS = frozenset({"campaign"})
_DATE_COLUMNS = frozenset({"date"})
_DECIMAL_COLUMNS = frozenset({"usage_rate"})
_STRING_COLUMNS = frozenset({"market", "currency", "campaign"})


def json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def json_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: json_value(value) for key, value in row.items()} for row in rows]


def json_document(report: str, *, start: dt.date, end: dt.date, rows: Iterable[dict[str, Any]]) -> dict:
    return {"report": report, "from": start.isoformat(), "to": end.isoformat(), "results": json_rows(rows)}


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    text = str(json_value(value))
    if column in TEXT_COLUMNS and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Line:
    """A file whose ``write`` returns what it was given (csv.writer → one line at a time)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The header, then one line per row: for a streamed response or a file."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield writer.writerow(columns)  # type: ignore[func-returns-value]
    for row in rows:
        yield writer.writerow([_csv_cell(column, row[column]) for column in columns])  # type: ignore[func-returns-value]


def parquet_write(columns: tuple[str, ...], rows: Iterable[dict[str, Any]], target: IO[bytes] | str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = []
    for column in columns:
        if column in _DATE_COLUMNS:
            kind = pa.date32()
        elif column in _DECIMAL_COLUMNS:
            kind = pa.decimal128(9, 4)
        elif column in _STRING_COLUMNS:
            kind = pa.string()
        else:
            kind = pa.int64()
        fields.append(pa.field(column, kind))
    schema = pa.schema(fields)
    data = list(rows)
    table = pa.Table.from_pylist(data, schema=schema) if data else schema.empty_table()
    pq.write_table(table, target)


def text_chunks(
    fmt: str,
    report: str,
    columns: tuple[str, ...],
    rows: Iterable[dict[str, Any]],
    *,
    start: dt.date,
    end: dt.date,
) -> Iterator[str]:
    """CSV lines, or the JSON document (``fmt`` csv or json)."""
    if fmt == "csv":
        yield from csv_lines(columns, rows)
    else:
        document = json_document(report, start=start, end=end, rows=rows)
        yield json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def write(
    fmt: str,
    report: str,
    columns: tuple[str, ...],
    rows: Iterable[dict[str, Any]],
    *,
    start: dt.date,
    end: dt.date,
    target: IO[bytes],
) -> None:
    """Write ``rows`` in ``fmt`` (one of ``FORMATS``) to the binary file ``target``."""
    if fmt == "parquet":
        parquet_write(columns, rows, target)
        return
    for chunk in text_chunks(fmt, report, columns, rows, start=start, end=end):
        target.write(chunk.encode())

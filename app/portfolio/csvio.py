"""The transactions CSV format, shared by export and import.

    date,symbol,kind,quantity,price,fee,currency,note
    2024-03-01,SAP.DE,buy,10,180.50,4.90,EUR,first lot

`date` is ISO (YYYY-MM-DD); `kind` is buy, sell, dividend or fee; for a dividend or a fee the
amount is quantity x price (e.g. 10 shares x 2.20 dividend per share); `fee`, `currency`
and `note` may be empty (the currency defaults to the stock's own).

A note that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
carriage return, after any apostrophes) is exported with one more apostrophe in front, as
OWASP advises against CSV injection; the import removes exactly that apostrophe, so an
exported file imports back to the very same notes.
"""
from __future__ import annotations

import csv
import re
import io
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

from flask import request
from flask_babel import gettext, lazy_gettext

from app.ops.errors import validation_error
from app.portfolio.amounts import AmountError, content_key, parse_amount, parse_decimal_comma, plain
from app.portfolio.services import TransactionIn

COLUMNS = ("date", "symbol", "kind", "quantity", "price", "fee", "currency", "note")
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
REQUIRED = ("date", "symbol", "kind", "quantity", "price")
MAX_ROWS = 5_000
DELIMITERS = (",", ";", "\t")
_GERMAN_DAY = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
# Lazy, made text (str) only for a row that has the problem: in the page's language, English for the API.
ISO_DAY = lazy_gettext("Use YYYY-MM-DD.")
ISO_OR_GERMAN_DAY = lazy_gettext("Use YYYY-MM-DD or DD.MM.YYYY.")
MUST_BE_A_NUMBER = lazy_gettext("Must be a number.")


def export_csv(rows: list[Any]) -> str:
    """Return the transactions as CSV text in the documented format."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.day.isoformat(), r.symbol, r.kind, plain(r.quantity), plain(r.price), plain(r.fee or 0),
                         r.currency, neutralise(r.note or "")])
    return out.getvalue()


REALISED_COLUMNS = ("date", "symbol", "quantity", "currency", "proceeds", "cost", "gain", "base_currency",
                    "proceeds_base", "cost_base", "gain_base", "cash_in_lieu")


def realised_csv(data: dict[str, Any]) -> str:
    """Return the sales of `services.realised()` as CSV: one row a sale, local and base amounts to the cent."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REALISED_COLUMNS)
    cents = Decimal("0.01")
    for sale in data["sales"]:
        writer.writerow([sale["date"], sale["symbol"], plain(sale["quantity"]), sale["currency"],
                         *(format(sale[k].quantize(cents), "f") for k in ("proceeds", "cost", "gain")),
                         data["base_currency"],
                         *(format(sale[k].quantize(cents), "f") for k in ("proceeds_base", "cost_base", "gain_base")),
                         "yes" if sale["cash_in_lieu"] else ""])
    return out.getvalue()


def neutralise(text: str) -> str:
    """Return a cell a spreadsheet shows as text: one apostrophe before anything that reads as a formula."""
    return "'" + text if _FORMULA.match(text) else text


def restore(text: str) -> str:
    """Undo neutralise(): drop the apostrophe it put before a formula-like cell."""
    return text[1:] if text.startswith("'") and _FORMULA.match(text[1:]) else text


def read_upload() -> str:
    """Return the uploaded CSV text (multipart `file` or a raw body), or a 400 saying what is wrong."""
    upload = request.files.get("file")
    data = upload.read() if upload else request.get_data()
    if not data:
        raise validation_error({"file": [gettext("Send the CSV as a `file` upload or as the request body.")]})
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise validation_error({"file": [gettext("The file must be UTF-8 text (in Excel: Save As, “CSV UTF-8”).")]}
                               ) from None


def detect_delimiter(text: str) -> str:
    """Return the file's delimiter: the one of `,` `;` tab its header line holds most of (`,` if none).

    Excel in German (and other decimal-comma locales) saves "CSV" with semicolons.
    """
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(text: str) -> tuple[list[tuple[int, TransactionIn, str]], dict[int, dict[str, list[str]]]]:
    """Parse CSV text; return (line number, entry, import key) rows and errors by line number and field.

    Comma-, semicolon- and tab-separated files are read alike. In a semicolon or tab file (a
    decimal-comma spreadsheet's) amounts may use a decimal comma and dates DD.MM.YYYY as well.
    """
    text = text.lstrip("\ufeff")
    delimiter = detect_delimiter(text)
    # newline="" lets the csv module see \r, \n and \r\n endings (and quoted newlines) itself.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _parse_rows(reader, decimal_comma=delimiter != ",")
    except csv.Error as exc:  # e.g. a NUL byte, an unterminated quote at the end
        return [], {reader.line_num or 1: {"file": [gettext("This is not valid CSV: %(reason)s.", reason=exc)]}}


def _parse_rows(reader: csv.DictReader, decimal_comma: bool) -> tuple[list[tuple[int, TransactionIn, str]], dict[int, dict[str, list[str]]]]:
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], {1: {"header": [gettext("Missing column(s): %(missing)s. Expected: %(expected)s.",
                                           missing=", ".join(missing), expected=",".join(COLUMNS))]}}
    parsed, errors = [], {}
    seen: Counter[str] = Counter()
    for count, raw in enumerate(reader, start=1):
        # The row's first physical line: blank lines and quoted newlines make enumerate() drift.
        number = reader.line_num - sum(str(v).count("\n") for v in raw.values() if v) if raw else reader.line_num
        if count > MAX_ROWS:
            errors[number] = {"file": [gettext("At most %(count)s rows per import.", count=MAX_ROWS)]}
            break
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue  # a blank line
        entry, problems = _entry(row, decimal_comma)
        if problems:
            errors[number] = problems
            continue
        content = content_key(entry.day, entry.symbol, entry.kind, entry.quantity, entry.price, entry.fee,
                              entry.currency, entry.note)
        seen[content] += 1  # two identical rows in one file are two trades, not a duplicate
        parsed.append((number, entry, f"{content}#{seen[content]}"))
    return parsed, errors


def _entry(row: dict[str, str], decimal_comma: bool) -> tuple[TransactionIn | None, dict[str, list[str]]]:
    problems: dict[str, list[str]] = {}
    for name in REQUIRED:
        if not row.get(name):
            problems[name] = [gettext("Required.")]
    amount = parse_decimal_comma if decimal_comma else parse_amount
    day = _parse(problems, "date", row.get("date"), _german_or_iso_day if decimal_comma else date.fromisoformat,
                 ISO_OR_GERMAN_DAY if decimal_comma else ISO_DAY)
    quantity = _parse(problems, "quantity", row.get("quantity"), amount, MUST_BE_A_NUMBER)
    price = _parse(problems, "price", row.get("price"), amount, MUST_BE_A_NUMBER)
    fee = _parse(problems, "fee", row.get("fee") or "0", amount, MUST_BE_A_NUMBER)
    kind = (row.get("kind") or "").lower()
    if problems:
        return None, problems
    return TransactionIn(symbol=row["symbol"].upper(), kind=kind, quantity=quantity, price=price, day=day, fee=fee,
                         currency=(row.get("currency") or None), note=restore(row["note"])[:500]
                         if row.get("note") else None), {}


def _german_or_iso_day(text: str) -> date:
    found = _GERMAN_DAY.fullmatch(text)
    return date(int(found[3]), int(found[2]), int(found[1])) if found else date.fromisoformat(text)


def _parse(problems: dict[str, list[str]], name: str, value: str | None, parse, message: Any) -> Any:
    if not value or name in problems:
        return None
    try:
        return parse(value)
    except AmountError as exc:
        problems[name] = [str(exc)]
    except ValueError:
        problems[name] = [str(message)]
    return None

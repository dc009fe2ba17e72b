"""Request text no view can use, refused before any view (or the rate limiter's key) reads it.

Run from `app.ops.request_id`'s first before-request hook, for every request:

* NUL characters: PostgreSQL cannot store them in text columns.
* Lone surrogates (`"\\ud800"` in JSON, or UTF-8-encoded surrogate bytes, which `json.loads`
  lets through): no UTF-8 encoder, so no database, log line or hash, can take them.
* JSON nested deeper than MAX_JSON_DEPTH: Python's parser recurses per level and a thousand
  levels end in a RecursionError. Checked on the raw bytes before anything parses them; a body
  with fewer brackets than the bound cannot be too deep, so normal requests skip the scan.

Each refusal is a 400 `validation_error` naming the field (`details.fields`), or an error page
for page requests. Plain-ASCII bodies without `\\u` escapes cannot hold either character and
are not parsed here; others are parsed once (Flask caches the result for `get_json`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import request

from app.ops.errors import APIError

MAX_JSON_DEPTH = 32  # the deepest body any view takes is 3 levels
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A JSON string (skipped: brackets inside it do not nest) or a bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL_MESSAGE = "NUL characters are not allowed."
_SURROGATE_MESSAGE = "Not valid text: it contains a lone surrogate (e.g. \\ud800), which no UTF-8 text can hold."


def refuse_unusable_input() -> None:
    """Raise a 400 for NUL characters, lone surrogates or over-deep JSON anywhere in the request."""
    query = request.query_string
    if b"%00" in query or b"\x00" in query:
        raise _nul_error("_")
    if b"%" in query or not query.isascii():
        _check_pairs(request.args.items(multi=True))
    if request.method not in _BODY_METHODS:
        return
    body = request.get_data(cache=True)  # cached: the form parser and the view read it again
    if request.is_json:
        _check_json_body(body)
        return
    mimetype = request.mimetype
    if mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        _check_pairs(request.form.items(multi=True))
    if b"\x00" in body or (b"%00" in body and mimetype == "application/x-www-form-urlencoded"):
        raise _nul_error("_")


def max_depth_exceeded(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return whether the JSON text `data` nests arrays and objects deeper than `limit`."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _check_json_body(data: bytes) -> None:
    if max_depth_exceeded(data):
        raise APIError(400, f"The request body is nested too deeply: at most {MAX_JSON_DEPTH} levels of "
                            "arrays and objects.", code="validation_error",
                       details={"fields": {"json": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]}})
    ascii_body = data.isascii()
    if ascii_body and b"\\u" not in data:
        return  # no escapes and nothing but ASCII: no surrogate, no NUL
    if ascii_body and not _SURROGATE_ESCAPE.search(data) and b"\\u0000" not in data.lower():
        return
    parsed = request.get_json(silent=True)  # a parse error is the view's to report, as before
    for path, text in _strings(parsed, ""):
        _check_text(path or "json", text)


def _check_pairs(pairs: Iterator[tuple[str | None, str]]) -> None:
    for key, value in pairs:
        field = key if isinstance(key, str) else "_"  # a multipart part may come without a name
        for text in (key, value):
            if isinstance(text, str):
                _check_text(field, text)


def _check_text(field: str, text: str) -> None:
    if text.isascii():
        if "\x00" in text:
            raise _nul_error(field)
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise APIError(400, "Some fields are invalid.", code="validation_error",
                       details={"fields": {_printable(field): [_SURROGATE_MESSAGE]}}) from None
    if "\x00" in text:
        raise _nul_error(field)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    # Depth is bounded by max_depth_exceeded, so recursion here is bounded too.
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            yield inner, key
            yield from _strings(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _printable(field: str) -> str:
    # A field name may itself hold the surrogate; the error body must still encode.
    return _SURROGATE.sub("\ufffd", field)


def _nul_error(field: str) -> APIError:
    return APIError(400, "Text may not contain NUL (\\u0000) characters.", code="validation_error",
                    details={"fields": {_printable(field): [_NUL_MESSAGE]}})

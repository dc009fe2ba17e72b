"""Remember verified JWTs, so PyJWT checks a token's signature once, not on every request.

PyJWT validates each base64 segment character by character in Python, and Flask-JWT-Extended
decodes a token three times per check (unverified claims, header, verified claims): about a
millisecond of CPU per API request. `MemoJWTManager` keeps the header and claims of each token
that passed full verification (keyed by the exact token string, per app, so per secret) and
answers later checks of the same string from memory while its `exp` lies ahead; an expired,
unknown or tampered string always goes through PyJWT. Revocation and the user's token version
are still checked on every request (app.auth.blocklist), since they change without the token.
"""
from __future__ import annotations

import time
from typing import Any

import flask_jwt_extended.view_decorators as _view_decorators
from flask import current_app
from flask_jwt_extended import JWTManager
from flask_jwt_extended.utils import get_unverified_jwt_headers

MAX_TOKENS = 4096
_EXT_KEY = "tickerdesk_jwt_memo"


class MemoJWTManager(JWTManager):
    """A JWTManager whose decode answers from the memo of verified tokens."""

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value: Any = None,
                                allow_expired: bool = False) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        memo = _memo()
        found = memo.get(encoded_token)
        if found is not None and found[2] > time.time():
            return dict(found[1])
        claims = super()._decode_jwt_from_config(encoded_token)  # raises for any bad token
        header = get_unverified_jwt_headers(encoded_token)
        if len(memo) >= MAX_TOKENS:
            memo.pop(next(iter(memo)), None)  # oldest first
        memo[encoded_token] = (header, claims, float(claims.get("exp", 0)))
        return dict(claims)


def unverified_headers(encoded_token: str) -> dict:
    """The token's header: from the memo when the token was verified, else parsed."""
    found = _memo().get(encoded_token)
    return dict(found[0]) if found is not None else get_unverified_jwt_headers(encoded_token)


def _memo() -> dict[str, tuple[dict, dict, float]]:
    return current_app.extensions.setdefault(_EXT_KEY, {})


# jwt_required reads the header of the token it has just verified; answer that from the memo.
# tests/auth/test_jwt_memo.py fails if a Flask-JWT-Extended upgrade moves this name.
_view_decorators.get_unverified_jwt_headers = unverified_headers

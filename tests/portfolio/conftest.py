"""Fixtures of the portfolio, watchlist and alert tests.

The demo market's live quote moves every second, and quotes are cached for
CACHE_TTL_QUOTE seconds. Tests here compare a quote fetched through one endpoint with
the value another endpoint computed from it, so `app` keeps quotes cached for an hour:
within one test every endpoint sees the very same quote.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.conftest import login_page, register_api

STABLE_QUOTES = {"CACHE_TTL_QUOTE": 3600}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app on SQLite, with quotes that stay cached (unchanged) for the whole test."""
    return make_app(**STABLE_QUOTES)


@pytest.fixture
def other(app: Flask) -> dict[str, Any]:
    """A second user with their own client, logged in to the API and to the pages."""
    client = app.test_client()
    user = register_api(client)
    login_page(client, user["email"])
    return {**user, "client": client}

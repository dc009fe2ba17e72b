"""Configuration parsing and the factory."""
from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError, database_url, load_config


def test_render_postgres_url_is_accepted() -> None:
    assert database_url("postgres://u:p@db.internal:5432/td") == "postgresql+psycopg://u:p@db.internal:5432/td"
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_default_database_is_sqlite_in_instance(tmp_path: Path) -> None:
    cfg = load_config(env={}, instance_dir=tmp_path)
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'tickerdesk.db'}"
    assert cfg["REDIS_URL"] is None
    assert cfg["RATELIMIT_STORAGE_URI"] == "memory://"
    assert cfg["MARKET_PROVIDERS"] == ["demo"]
    assert cfg["BASE_CURRENCY"] == "EUR"


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config(env={"TICKERDESK_ENV": "production"}, instance_dir=tmp_path)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(env={"TICKERDESK_ENV": "production", "DATABASE_URL": "sqlite://"})
    with pytest.raises(ConfigError, match="too short"):
        load_config(env={"TICKERDESK_ENV": "production", "SECRET_KEY": "short"}, instance_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists(), "production must never generate a key"


def test_development_generates_a_secret_key_once(tmp_path: Path) -> None:
    first = load_config(env={}, instance_dir=tmp_path)["SECRET_KEY"]
    second = load_config(env={}, instance_dir=tmp_path)["SECRET_KEY"]
    assert first == second and len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = tmp_path / "other"
    assert load_config(env={}, instance_dir=other)["SECRET_KEY"] != first


def test_environment_values_are_parsed(tmp_path: Path) -> None:
    cfg = load_config(env={
        "REDIS_URL": "redis://cache:6379/0", "MARKET_PROVIDERS": " Yahoo, finnhub ,demo", "CACHE_TTL_QUOTE": "30",
        "BASE_CURRENCY": "usd", "RATELIMIT_LOGIN": "3 per minute", "FINNHUB_API_KEY": "k",
    }, instance_dir=tmp_path)
    assert cfg["REDIS_URL"] == "redis://cache:6379/0"
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert cfg["MARKET_PROVIDERS"] == ["yahoo", "finnhub", "demo"]
    assert cfg["CACHE_TTL_QUOTE"] == 30
    assert cfg["BASE_CURRENCY"] == "USD"
    assert cfg["RATELIMIT_LOGIN"] == "3 per minute"


@pytest.mark.parametrize("env, message", [
    ({"CACHE_TTL_QUOTE": "soon"}, "CACHE_TTL_QUOTE must be a number"),
    ({"BASE_CURRENCY": "EURO"}, "three-letter"),
    ({"TICKERDESK_ENV": "staging"}, "TICKERDESK_ENV must be one of"),
])
def test_bad_settings_say_what_is_wrong(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env, instance_dir=tmp_path)


def test_production_hardening(tmp_path: Path) -> None:
    app = create_app(env={"TICKERDESK_ENV": "production", "SECRET_KEY": "p" * 40,
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["LOG_JSON"] is True
    response = app.test_client().get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_factory_builds_independent_apps(make_app) -> None:
    one, two = make_app(), make_app()
    assert one is not two
    assert one.config["SQLALCHEMY_DATABASE_URI"] != two.config["SQLALCHEMY_DATABASE_URI"]
    assert {"auth.login", "auth_api.login", "ops.health", "dashboard.index"} <= set(one.view_functions)


def test_market_budget_and_provider_knobs_come_from_the_environment(tmp_path) -> None:
    from app.config import ConfigError, load_config

    cfg = load_config(env={"MARKET_BUDGET_S": "3.5", "FINNHUB_RATE_PER_S": "2", "YAHOO_BATCH_SIZE": "25",
                           "REDIS_URL": "redis://127.0.0.1:6379/0"}, instance_dir=tmp_path)
    assert cfg["MARKET_BUDGET_S"] == 3.5 and cfg["FINNHUB_RATE_PER_S"] == 2.0 and cfg["YAHOO_BATCH_SIZE"] == 25
    assert "YAHOO_TIMEOUT_S" not in cfg, "unset knobs keep each provider's own default"
    assert cfg["RATELIMIT_STORAGE_OPTIONS"]["socket_timeout"] == 0.5
    assert load_config(env={}, instance_dir=tmp_path)["MARKET_BUDGET_S"] == 8.0
    import pytest

    with pytest.raises(ConfigError, match="YAHOO_TIMEOUT_S"):
        load_config(env={"YAHOO_TIMEOUT_S": "soon"}, instance_dir=tmp_path)

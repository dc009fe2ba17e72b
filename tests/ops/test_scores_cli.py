"""`flask scores refresh`: recomputes the growth scores and leaves them in the cache."""
from __future__ import annotations

import re

from app.research import services as research


def test_refresh_recomputes_and_caches_the_scores(app, runner, monkeypatch) -> None:
    dax = research.Universe("index", "DAX")
    with app.app_context():
        real = research.compute_scores
        monkeypatch.setattr(research, "compute_scores", lambda universe: {"count": 0, "items": [], "stale": True})
        assert research.score_table(dax)["count"] == 0, "an old table in the cache"
        monkeypatch.setattr(research, "compute_scores", real)

    result = runner.invoke(args=["scores", "refresh", "--index", "dax"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"DAX: 40 stocks scored in \d+(\.\d+)? s\n", result.output), result.output

    def no_recompute(universe):
        raise AssertionError(f"{universe} was computed again: the refresh did not cache it")

    monkeypatch.setattr(research, "compute_scores", no_recompute)
    with app.app_context():
        table = research.score_table(dax)
    assert table["count"] == 40 and len(table["items"]) == 40, "the refresh replaced the old table"
    scores = [item["score"] for item in table["items"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 100 for s in scores)
    assert {item["symbol"] for item in table["items"]} >= {"SAP.DE", "SIE.DE"}


def test_refresh_names_what_it_does_not_know(runner) -> None:
    result = runner.invoke(args=["scores", "refresh", "--index", "NOPE"])
    assert result.exit_code == 1 and "Unknown index" in result.output
    result = runner.invoke(args=["scores", "refresh", "--country", "Atlantis"])
    assert result.exit_code == 1 and "Unknown country" in result.output

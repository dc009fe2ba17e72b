"""News sentiment (app.analysis.sentiment): VADER labels, the recency-weighted aggregate, score_news."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from app.analysis import sentiment as sent
from app.analysis.sentiment import HALF_LIFE_DAYS, aggregate, headline_score, label, score_news

NOW = datetime(2024, 5, 10, 15, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("headline, expected", [
    ("SAP beats expectations as strong growth lifts profit to a record high", "positive"),
    ("Apple shares surge after excellent quarter and great outlook", "positive"),
    ("Company wins award for outstanding, successful product launch", "positive"),
    ("Siemens plunges after terrible losses and fraud scandal", "negative"),
    ("Bank collapses as crisis deepens; investors fear bankruptcy", "negative"),
    ("Carmaker warns of weak demand, cuts jobs after disappointing sales", "negative"),
    ("Company schedules release of quarterly results", "neutral"),
    ("BMW announces date of annual general meeting", "neutral"),
    ("Allianz opens new regional headquarters in Munich", "neutral"),
])
def test_headlines_get_the_right_label(headline, expected) -> None:
    score = headline_score(headline)
    assert -1.0 <= score <= 1.0
    assert label(score) == expected, (headline, score)
    if expected == "positive":
        assert score > 0.3
    elif expected == "negative":
        assert score < -0.3
    else:
        assert score == 0.0


def test_labels_use_vaders_thresholds() -> None:
    assert (sent.POSITIVE, sent.NEGATIVE) == (0.05, -0.05)
    assert label(0.05) == "positive" and label(1.0) == "positive"
    assert label(-0.05) == "negative" and label(-1.0) == "negative"
    assert label(0.0499) == label(-0.0499) == label(0.0) == "neutral"
    assert label(None) == "neutral"


def test_aggregate_is_recency_weighted() -> None:
    assert HALF_LIFE_DAYS == 3.0
    a, b = 0.8, -0.4
    # ages 0 and 3 days: weights 1 and 0.5
    assert aggregate([a, b], [0.0, 3.0]) == round((a + 0.5 * b) / 1.5, 4) == 0.4
    # 6 days: a quarter
    assert aggregate([a, b], [0.0, 6.0]) == round((a + 0.25 * b) / 1.25, 4)
    # three items: 0, 1.5 (weight 2**-0.5) and 9 days (1/8)
    w = [1.0, 2 ** -0.5, 0.125]
    scores = [0.2, 0.6, -0.9]
    expected = sum(x * y for x, y in zip(w, scores)) / sum(w)
    assert aggregate(scores, [0.0, 1.5, 9.0]) == round(expected, 4)
    # only relative ages matter
    assert aggregate([a, b], [10.0, 13.0]) == aggregate([a, b], [0.0, 3.0])


def test_aggregate_without_ages_is_the_plain_mean_and_future_items_count_as_new() -> None:
    assert aggregate([0.5, -0.1, 0.2]) == round((0.5 - 0.1 + 0.2) / 3, 4)
    assert aggregate([0.3]) == 0.3
    assert aggregate([0.8, -0.4], [-2.0, 3.0]) == aggregate([0.8, -0.4], [0.0, 3.0])  # negative age -> 0


def test_aggregate_of_nothing() -> None:
    assert aggregate([]) is None
    assert aggregate([], []) is None


def item(headline: str, hours_ago: float, **extra) -> dict:
    return {"headline": headline, "published_at": (NOW - timedelta(hours=hours_ago)).isoformat(),
            "url": f"https://example.com/{abs(hash(headline))}", "publisher": "Wire", "summary": "boilerplate",
            **extra}


def test_score_news_adds_sentiment_and_label_and_counts() -> None:
    items = [
        item("SAP beats expectations as strong growth lifts profit", 0),
        item("SAP reports worst quarter in years after bad sales", 24),
        item("SAP announces date of annual general meeting", 48),
        item("SAP reports excellent quarter as profits climb to a new high", 72),
    ]
    scored, agg = score_news(items)
    assert len(scored) == len(items)
    for original, out in zip(items, scored):
        assert {k: out[k] for k in original} == original  # every field kept
        assert out["sentiment"] == headline_score(original["headline"])
        assert out["label"] == label(out["sentiment"])
    assert [s["label"] for s in scored] == ["positive", "negative", "neutral", "positive"]
    assert items[0].get("sentiment") is None  # the input is not modified
    assert agg["count"] == 4
    assert (agg["positive"], agg["negative"], agg["neutral"]) == (2, 1, 1)
    weights = [0.5 ** (d / HALF_LIFE_DAYS) for d in (0, 1, 2, 3)]
    expected = sum(w * s["sentiment"] for w, s in zip(weights, scored)) / sum(weights)
    assert agg["score"] == round(expected, 4)
    assert agg["label"] == label(agg["score"])


def test_score_news_ages_are_relative_to_the_newest_item_in_any_order() -> None:
    a, b = "Profits soar to a record, great results", "Shares crash on fraud probe"
    newest_first = [item(a, 10), item(b, 10 + 72)]
    oldest_first = newest_first[::-1]
    sa, sb = headline_score(a), headline_score(b)
    expected = round((sa + 0.5 * sb) / 1.5, 4)  # 3 days apart: weights 1 and 0.5
    assert score_news(newest_first)[1]["score"] == expected
    assert score_news(oldest_first)[1]["score"] == expected
    # timestamps in another zone (or with Z) are the same instants
    shifted = [{**i, "published_at": datetime.fromisoformat(i["published_at"]).astimezone(
        timezone(timedelta(hours=9))).isoformat()} for i in newest_first]
    assert score_news(shifted)[1]["score"] == expected
    zulu = [{**i, "published_at": i["published_at"].replace("+00:00", "Z")} for i in newest_first]
    assert score_news(zulu)[1]["score"] == expected


def test_score_news_aggregate_label_follows_the_weighted_score() -> None:
    # an old strongly negative item and a fresh mildly positive one: recency wins
    fresh, old = "Company wins a small award", "Company collapses in a terrible, devastating scandal"
    scored, agg = score_news([item(fresh, 0), item(old, 24 * 30)])
    assert scored[0]["label"] == "positive" and scored[1]["label"] == "negative"
    assert agg["score"] > 0.05 and agg["label"] == "positive"
    assert math.isclose(agg["score"], (scored[0]["sentiment"] + 2 ** -10 * scored[1]["sentiment"]) / (1 + 2 ** -10),
                        abs_tol=5e-5)


def test_score_news_of_nothing() -> None:
    scored, agg = score_news([])
    assert scored == []
    assert agg == {"score": None, "label": "neutral", "count": 0, "positive": 0, "negative": 0, "neutral": 0}


def test_only_the_headline_is_scored() -> None:
    plain = item("Company schedules release of quarterly results", 0, summary="Terrible, awful disaster; fraud!")
    scored, agg = score_news([plain])
    assert scored[0]["sentiment"] == 0.0 and agg["label"] == "neutral" and agg["neutral"] == 1

"""News sentiment with VADER: a compound score per headline and an aggregate per stock."""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# VADER's own thresholds for calling a compound score positive or negative.
POSITIVE = 0.05
NEGATIVE = -0.05
# Older headlines count less: an item's weight halves every this many days.
HALF_LIFE_DAYS = 3.0


def headline_score(text: str) -> float:
    """Return VADER's compound score of a text, -1 (very negative) .. 1 (very positive)."""
    return _analyzer().polarity_scores(text)["compound"]


def label(score: float | None) -> str:
    """Return "positive", "negative" or "neutral" for a compound score (VADER's thresholds)."""
    if score is None:
        return "neutral"
    if score >= POSITIVE:
        return "positive"
    if score <= NEGATIVE:
        return "negative"
    return "neutral"


def aggregate(scores: Sequence[float], ages_days: Sequence[float] | None = None) -> float | None:
    """Return the recency-weighted mean of compound scores, or None when there are none."""
    if not scores:
        return None
    ages = ages_days if ages_days is not None else [0.0] * len(scores)
    weights = [math.pow(0.5, max(age, 0.0) / HALF_LIFE_DAYS) for age in ages]
    return round(sum(w * s for w, s in zip(weights, scores)) / sum(weights), 4)


def score_news(items: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the items with `sentiment` and `label` added, and the aggregate over them.

    Each item needs `headline` and `published_at` (ISO 8601); the summary is not scored
    because providers' summaries are often boilerplate.
    """
    scored = []
    for item in items:
        score = headline_score(item["headline"])
        scored.append({**item, "sentiment": score, "label": label(score)})
    if not scored:
        return scored, {"score": None, "label": "neutral", "count": 0, "positive": 0, "negative": 0, "neutral": 0}
    newest = max(datetime.fromisoformat(i["published_at"]) for i in scored)
    ages = [(newest - datetime.fromisoformat(i["published_at"])).total_seconds() / 86400 for i in scored]
    score = aggregate([i["sentiment"] for i in scored], ages)
    counts = {name: sum(1 for i in scored if i["label"] == name) for name in ("positive", "negative", "neutral")}
    return scored, {"score": score, "label": label(score), "count": len(scored), **counts}


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    # Loading the lexicon takes ~50 ms; one analyzer per process is enough (it is read-only).
    return SentimentIntensityAnalyzer()

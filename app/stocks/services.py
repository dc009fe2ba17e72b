"""Universe work: seeding from pytickersymbols and summarising what is there."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import IndexMembership, Stock
from app.universe import load_universe, search_key

_FIELDS = ("name", "country", "exchange", "currency", "sector", "industry", "isin")


def seed_universe() -> dict[str, int]:
    """Upsert every stock and index membership from pytickersymbols; idempotent. Returns counts."""
    records = load_universe()
    existing = {s.symbol: s for s in db.session.scalars(select(Stock)).all()}
    created = updated = memberships_added = memberships_removed = 0
    for record in records:
        stock = existing.get(record.symbol)
        values = {name: _fit(getattr(record, name), name) for name in _FIELDS}
        values["search_text"] = search_key(" ".join(filter(None, (record.symbol, record.name, record.isin))))
        if stock is None:
            stock = Stock(symbol=record.symbol, **values)
            db.session.add(stock)
            created += 1
        elif any(getattr(stock, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(stock, key, value)
            updated += 1
        have = {m.index_name: m for m in stock.memberships}
        for index_name in record.indices:
            if index_name not in have:
                stock.memberships.append(IndexMembership(index_name=index_name))
                memberships_added += 1
        for index_name, membership in have.items():
            if index_name not in record.indices:
                stock.memberships.remove(membership)
                memberships_removed += 1
    db.session.commit()
    return {"stocks": len(records), "created": created, "updated": updated,
            "memberships_added": memberships_added, "memberships_removed": memberships_removed}


def _fit(value: str | None, column: str) -> str | None:
    # pytickersymbols' free-text fields can outgrow the column (PostgreSQL refuses, SQLite doesn't).
    if value is None:
        return None
    return value[: Stock.__table__.c[column].type.length]


def universe_summary() -> dict[str, Any]:
    """Return the number of stocks and the size of each index."""
    total = db.session.scalar(select(func.count(Stock.id))) or 0
    rows = db.session.execute(select(IndexMembership.index_name, func.count(IndexMembership.id))
                              .group_by(IndexMembership.index_name)
                              .order_by(IndexMembership.index_name)).all()
    countries = db.session.scalar(select(func.count(func.distinct(Stock.country)))) or 0
    return {"stocks": total, "countries": countries, "indices": [{"name": n, "count": c} for n, c in rows]}

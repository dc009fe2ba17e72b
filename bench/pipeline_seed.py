"""The data of bench/pipeline.py: users, watchlists, alerts, probe alerts with channels, large portfolios.

`seed(app, plan)` writes it all with SQLAlchemy core bulk inserts (Python-side column
defaults apply), inside the app's context, on a database that `flask db upgrade` and
`flask universe seed` have prepared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bench.pipeline_stub import base_price

PASSWORD = "bench-password-123"
PROBE_ABOVE = Decimal("1.05")  # a probe fires when its price moves to PROBE_FLIP x its resting price
PROBE_FLIP = 1.10


@dataclass
class Plan:
    """What to seed; filled in by `seed` with the symbols and who is who."""

    users: int
    alerts: int
    symbols: int
    probes_per_run: int
    runs: int
    perf_users: int
    webhook_url: str
    symbol_list: list[str] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    probes: list[list[dict]] = field(default_factory=list)  # per run: {symbol, user_id, channel}
    perf_user_ids: list[int] = field(default_factory=list)

    def email(self, i: int) -> str:
        return f"bench-u{i}@example.com"


def seed(app, plan: Plan) -> dict[str, int]:
    """Insert the plan's rows; return counts of what was written."""
    from argon2 import PasswordHasher
    from sqlalchemy import func, insert, select, union

    from app.extensions import db
    from app.models import Alert, Transaction, User, Watchlist, WatchlistItem
    from app.models.notify import NotificationSettings, Webhook
    from app.research.services import Universe, members
    from app.universe import load_universe
    from bench.portfolio import make_transactions

    with app.app_context():
        eur = [r["symbol"] for r in members(Universe("index", "DAX"))][:15] + \
              [r["symbol"] for r in members(Universe("index", "MDAX"))][:10]
        usd = [r["symbol"] for r in members(Universe("index", "S&P 500"))][:25]
        perf_symbols = eur + usd
        rest = [r.symbol for r in load_universe() if r.symbol not in set(perf_symbols)]
        symbols = list(dict.fromkeys(perf_symbols + rest))[:plan.symbols]
        symbols += [f"TDB{i:04d}" for i in range(plan.symbols - len(symbols))]  # beyond the universe
        plan.symbol_list = symbols

        password_hash = PasswordHasher().hash(PASSWORD)  # one production-strength hash, shared
        db.session.execute(insert(User), [{"email": plan.email(i), "password_hash": password_hash}
                                          for i in range(plan.users)])
        by_email = dict(db.session.execute(select(User.email, User.id)).all())
        plan.user_ids = [by_email[plan.email(i)] for i in range(plan.users)]

        db.session.execute(insert(Watchlist), [{"user_id": uid, "name": "Main"} for uid in plan.user_ids])
        lists = dict(db.session.execute(select(Watchlist.user_id, Watchlist.id)).all())
        items = [{"watchlist_id": lists[uid], "symbol": symbols[(u * 7 + k) % len(symbols)], "position": k}
                 for u, uid in enumerate(plan.user_ids) for k in range(5)]
        db.session.execute(insert(WatchlistItem), items)

        per_user = max(1, plan.alerts // plan.users)
        probe_users = {}
        for run in range(plan.runs):
            plan.probes.append([])
            for p in range(plan.probes_per_run):
                k = run * plan.probes_per_run + p
                probe = {"symbol": symbols[k], "user_index": k, "user_id": plan.user_ids[k],
                         "channel": "email" if k % 2 == 0 else "webhook"}
                plan.probes[run].append(probe)
                probe_users[k] = probe
        rows = []
        for i in range(plan.alerts):
            u = min(i // per_user, plan.users - 1)
            symbol, kind = symbols[i % len(symbols)], ("above", "below", "stop_loss", "take_profit")[i % 4]
            factor = Decimal("1.5") if kind in ("above", "take_profit") else Decimal("0.5")
            if i % per_user == 0 and u in probe_users:  # the user's first alert is the probe
                symbol, kind, factor = probe_users[u]["symbol"], "above", PROBE_ABOVE
            threshold = (Decimal(str(base_price(symbol))) * factor).quantize(Decimal("0.0001"))
            rows.append({"user_id": plan.user_ids[u], "symbol": symbol, "kind": kind, "threshold": threshold})
        db.session.execute(insert(Alert), rows)

        hooks = [p for run in plan.probes for p in run if p["channel"] == "webhook"]
        if hooks:
            db.session.execute(insert(NotificationSettings), [
                {"user_id": p["user_id"], "email_enabled": False, "webhook_enabled": True} for p in hooks])
            db.session.execute(insert(Webhook), [
                {"user_id": p["user_id"], "url": plan.webhook_url, "secret": "bench-secret", "format": "json"}
                for p in hooks])

        plan.perf_user_ids = plan.user_ids[-plan.perf_users:] if plan.perf_users else []
        from app.market.service import utc_today

        entries = make_transactions(perf_symbols, utc_today())
        txns = [{"user_id": uid, "symbol": e.symbol, "kind": e.kind, "quantity": e.quantity, "price": e.price,
                 "fee": e.fee, "currency": e.currency, "day": e.day} for uid in plan.perf_user_ids for e in entries]
        if txns:
            db.session.execute(insert(Transaction), txns)
        db.session.commit()
        tracked = db.session.scalar(select(func.count()).select_from(union(
            select(Transaction.symbol), select(WatchlistItem.symbol),
            select(Alert.symbol).where(Alert.active.is_(True))).subquery()))
        counts = {"users": plan.users, "alerts": len(rows), "watchlist_items": len(items), "transactions": len(txns),
                  "tracked_symbols": tracked, "webhooks": len(hooks)}
        db.session.remove()
    return counts

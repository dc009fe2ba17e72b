"""The dashboard: the signed-in user's portfolio, movers, watchlist, alerts, top scores, markets and news;
for visitors, what the app holds."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from app.alerts.pages import flash_fired_alerts
from app.dashboard import services
from app.stocks.services import universe_summary

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """Show the signed-in user's home page, or the universe and how to start to a visitor."""
    if not current_user.is_authenticated:
        return render_template("dashboard.html", summary=universe_summary(), home=None)
    flash_fired_alerts(current_user.id)
    return render_template("dashboard.html", summary=None, home=services.home(current_user))

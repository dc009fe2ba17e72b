"""The dashboard: what the app holds right now, honestly."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.stocks.services import universe_summary

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """Show the size of the universe, its indices, and what the signed-in user keeps."""
    return render_template("dashboard.html", summary=universe_summary())

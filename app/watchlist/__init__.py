"""Watchlists: named lists of symbols a user follows."""

"""Stocks: the universe, search, quotes, charts, research."""

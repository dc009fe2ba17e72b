"""Rankings and the screener over the growth score."""

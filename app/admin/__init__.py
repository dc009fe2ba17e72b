"""Administration: cache statistics and invalidation (admins only)."""

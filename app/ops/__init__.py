"""Operations: errors, logging, metrics, health, request ids, Redis, coordination between processes."""

"""The pipeline's run locks and timestamps: `app.ops.coordination`, which the services share."""
from app.ops.coordination import claim, last, mark, run_lock, unclaim

__all__ = ["claim", "last", "mark", "run_lock", "unclaim"]

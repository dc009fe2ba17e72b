"""The pipeline's run locks and timestamps (`app.ops.coordination`, which the services share)."""
from typing import Any

from app.ops.coordination import LEASE_S, claim, last, mark, run_lock, unclaim

__all__ = ["claim", "last", "mark", "retry_if_redelivered", "run_lock", "unclaim"]


def retry_if_redelivered(task: Any) -> None:
    """A run that found its lock taken: if it is a task a dead worker left (redelivered), try once more
    when the dead holder's lease has lapsed, so its work is redone; otherwise (a live run is going) skip."""
    if (task.request.delivery_info or {}).get("redelivered"):
        raise task.retry(countdown=LEASE_S + 1, max_retries=3)

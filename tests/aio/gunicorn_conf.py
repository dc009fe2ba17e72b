"""gunicorn config for the gevent tests: shut the bridge down in worker_exit."""
import sys


def worker_exit(server, worker):
    aio = sys.modules.get("app.aio")
    if aio is None:
        return
    state = aio._state   # test-only peek, to report whether the session got closed
    session = state.session if state is not None else None
    aio.shutdown()
    print(f"aio-worker-exit session_closed={None if session is None else session.closed} "
          f"state_cleared={aio._state is None}", file=sys.stderr, flush=True)

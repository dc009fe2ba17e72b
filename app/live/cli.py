"""`flask live stream`: the streamer as a process of its own (the Render worker)."""
from __future__ import annotations

import signal

import click
import structlog
from flask import current_app
from flask.cli import AppGroup

log = structlog.get_logger(__name__)
live_cli = AppGroup("live", help="Live updates.")


@live_cli.command("stream")
def stream_command() -> None:
    """Run the price streamer until SIGTERM/SIGINT (needs REDIS_URL to reach the web processes)."""
    from app.live.registry import Registry  # noqa: PLC0415
    from app.live.streamer import LiveLoop, freeze_long_lived_objects  # noqa: PLC0415
    from app.ops.redis import redis_client  # noqa: PLC0415

    app = current_app._get_current_object()
    client = redis_client(app)
    if client is None:
        raise click.ClickException("REDIS_URL is not set: a separate streamer could not reach the web "
                                   "processes. Without Redis the web process runs the streamer itself.")
    registry = Registry(client, app.config["LIVE_REDIS_PREFIX"], ttl_s=3 * float(app.config["LIVE_LOCK_TTL_S"]))
    loop = LiveLoop(app, registry, client, stream=True)

    def stop(signum: int, _frame: object) -> None:
        log.info("live_stream_stopping", signal=signum)
        loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"live streamer {registry.proc_id}: waiting for the lock, then streaming (Ctrl-C stops)")
    freeze_long_lived_objects()
    loop.run()
    click.echo("live streamer stopped")

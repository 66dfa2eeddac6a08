"""`socialdesk worker` and `socialdesk queue ...`: run consumers, inspect the stream, replay dead letters."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
from typing import Annotated, Any

import typer

queue_app = typer.Typer(help="The Redis Streams queue: state and dead letters.", no_args_is_help=True)
log = logging.getLogger(__name__)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _redis_queue() -> Any:
    from socialdesk.config import get_settings
    from socialdesk.queue.redis_streams import RedisStreamQueue

    url = get_settings().queue_url
    if not url.startswith(("redis://", "rediss://", "unix://")):
        _fail(
            "SOCIALDESK_QUEUE_URL must be redis://... for separate workers (the default queue is in-process)",
            2,
        )
    return RedisStreamQueue(url)


_early_stop = False


def _note_early_stop(signum: int, _frame: Any) -> None:
    global _early_stop
    _early_stop = True


def _run_consumer(consumer: str | None = None) -> None:
    """One consumer until SIGTERM/SIGINT: finishes the message in hand, gives back the rest."""
    from socialdesk.db.engine import reset_engine_cache
    from socialdesk.ops.logging import configure_logging
    from socialdesk.queue.redis_streams import StreamWorker, warm_up

    configure_logging()
    reset_engine_cache()  # never share a connection pool across a fork
    worker = StreamWorker(_redis_queue(), consumer)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the message in hand", signum)
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if _early_stop:  # SIGTERM arrived while this process was starting
        worker.request_stop()
    warm_up()
    log.info("worker %s consuming %s", worker.consumer, worker.queue.stream)
    worker.run()
    log.info("worker %s stopped after %d messages", worker.consumer, worker.processed)


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Consumer processes to run.")] = 1,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics of these workers on this port.")
    ] = None,
) -> None:
    """Process stored messages from the Redis stream (SOCIALDESK_QUEUE_URL) until SIGTERM."""
    queue = _redis_queue()
    try:
        queue.ensure_group()
    except Exception as exc:
        _fail(f"redis at {queue.url} is not reachable: {exc}")
    if metrics_port is not None:
        if concurrency > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            _fail(
                "--metrics-port with --concurrency > 1 needs PROMETHEUS_MULTIPROC_DIR (an empty directory)", 2
            )
        from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        start_http_server(metrics_port, registry=registry)
    if concurrency == 1:
        _run_consumer()
        return
    # Fork: children start at once, without importing everything again. Nothing that must not be
    # shared is open yet (no database pool; each child makes its own Redis client). Until a child
    # installs its own handler, a SIGTERM only sets a flag it checks.
    signal.signal(signal.SIGTERM, _note_early_stop)
    signal.signal(signal.SIGINT, _note_early_stop)
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_run_consumer, name=f"consumer-{i}") for i in range(concurrency)]
    for child in children:
        child.start()

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if _early_stop:
        forward(signal.SIGTERM, None)
    for child in children:
        child.join()
    codes = [child.exitcode for child in children]
    if any(codes):
        typer.echo(f"consumers exited with {codes}", err=True)
        sys.exit(1)


@queue_app.command("stats")
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Stream length, lag, pending entries, oldest age, consumers and dead letters."""
    try:
        figures = _redis_queue().stats().to_dict()
    except Exception as exc:
        _fail(f"redis is not reachable: {exc}")
    if as_json:
        typer.echo(json.dumps(figures))
        return
    for key, value in figures.items():
        typer.echo(f"{key:>13}: {value}")


@queue_app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Messages the workers gave up on, newest first, with their last error."""
    try:
        items = _redis_queue().dead_letters(limit)
    except Exception as exc:
        _fail(f"redis is not reachable: {exc}")
    if as_json:
        typer.echo(json.dumps(items))
        return
    for item in items:
        typer.echo(
            f"{item['entry_id']} message {item['message_id']} ({item['tries']} tries): {item['error']}"
        )
    if not items:
        typer.echo("no dead letters")


@queue_app.command("replay")
def replay(
    entry_ids: Annotated[
        list[str] | None, typer.Argument(help="Dead-letter entry ids (see dead-letters).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Put dead-lettered messages back on the stream with a fresh try count."""
    import redis

    if not entry_ids and not all_:
        _fail("name the entry ids to replay, or pass --all", 2)
    if entry_ids and all_:
        _fail("pass entry ids or --all, not both", 2)
    queue = _redis_queue()
    try:
        replayed = queue.replay(None if all_ else entry_ids)
    except KeyError as exc:
        _fail(f"no dead letter with entry id {exc.args[0]!r}")
    except redis.ResponseError as exc:
        _fail(f"bad entry id: {exc}", 2)
    except redis.RedisError as exc:
        _fail(f"redis is not reachable: {exc}")
    typer.echo(f"replayed {len(replayed)} messages: {replayed}")

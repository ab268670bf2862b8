"""What the benchmarks share: a PostgreSQL database of their own, gunicorn, and an HTTP load client.

The load client is a small asyncio HTTP/1.1 client (one connection per request, as gunicorn's
sync workers close each connection). It is cheap per request, so on a 2-core machine most of
the CPU goes to the server being measured; its own CPU time is printed beside the results.
"""

import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/spasticity_bench"
BENCH_SECRET_KEY = "bench-only-" + "k" * 60


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    """Production-like settings for the service under test, with throttling out of the way."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": BENCH_SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "THROTTLE_USER": "100000000/minute",
        "THROTTLE_ANON": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def setup_django(database_url: str, *, prepare: bool = True) -> None:
    """Configure Django in this process against the benchmark database.

    ``prepare`` creates and migrates the database and collects static files, as a deployment
    would; helper processes that only write rows skip it.
    """
    os.environ.update(bench_env(database_url))
    sys.path.insert(0, str(ROOT))
    if prepare:
        ensure_database(database_url)
    import django

    django.setup()
    if prepare:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def recreate_database(database_url: str) -> None:
    """Drop the benchmark's own database, so that every run starts from the same state."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ensure_database(database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(database_url: str, *, workers: int = 2, port: int | None = None, **env: str) -> Iterator[int]:
    """Run the service under gunicorn (sync workers) on a free loopback port (or the one given)."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            f"--workers={workers}",
            f"--bind=127.0.0.1:{port}",
            "--worker-class=sync",
            "--backlog=2048",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=bench_env(database_url, **env),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@dataclass
class LoadResult:
    label: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    items: int = 0
    client_cpu_seconds: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def report(self) -> str:
        ok = sum(n for code, n in self.statuses.items() if code < 400)
        errors = len(self.latencies) - ok
        rate = len(self.latencies) / self.seconds
        lines = [
            f"{self.label}: {len(self.latencies)} requests in {self.seconds:.1f} s = {rate:,.0f} requests/s",
            f"  items stored per second: {self.items / self.seconds:,.0f}" if self.items else "",
            f"  latency p50 {self.percentile(50):.1f} ms, p95 {self.percentile(95):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, mean {statistics.fmean(self.latencies) * 1000:.1f} ms",
            f"  statuses {dict(sorted(self.statuses.items()))}, errors {errors}",
            f"  load client CPU {self.client_cpu_seconds:.1f} s of {self.seconds:.1f} s",
        ]
        return "\n".join(line for line in lines if line)


async def _send(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    response = await reader.read()
    writer.close()
    status = int(response[9:12])
    return status, response.split(b"\r\n\r\n", 1)[1]


def post_request(path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def run_load(
    label: str, port: int, requests: list[bytes], *, concurrency: int, items_per_request: int = 1
) -> LoadResult:
    """Send every request with ``concurrency`` in flight; measure each one's latency."""
    result = LoadResult(label)
    queue = iter(requests)

    async def worker() -> None:
        for request in queue:
            started = time.perf_counter()
            status, _ = await _send(port, request)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status < 300:
                result.items += items_per_request

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(concurrency)))

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    asyncio.run(main())
    result.seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return result

"""Rate limits that cost one Redis round trip per request.

DRF's throttles keep a list of every request's time in the cache and rewrite it on each
request: two round trips and a pickle that grows with the rate. These count requests in fixed
windows instead, with one pipelined INCR and EXPIRE on Redis (``REDIS_URL``), or in the process
when there is no Redis (the embedded mode). A fixed window lets a client make up to twice the
rate across a window's edge, which is fine for stopping abuse.

Redis holds nothing but these counters, and the requests they guard store diaries and alerts in
the database: when Redis cannot be reached, each process counts on its own until it is back
(limits then hold per process, not across them), with one warning a minute in the log.
"""

import hashlib
import re
import time
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from rest_framework import throttling

from config.redis_outage import RedisOutage

outage = RedisOutage("rate limiting")
SAFE_KEY = re.compile(r"[!-~]{1,200}")

# Counts of this process alone: the embedded mode's, and every mode's while Redis is down.
process_counts = LocMemCache("throttle-counts", {"OPTIONS": {"MAX_ENTRIES": 100_000}})


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1)


def _redis() -> redis.Redis | None:
    return _client(settings.REDIS_URL) if settings.REDIS_URL else None


def _windowed(key: str, window_seconds: int) -> str:
    # Keys carry client-supplied text (a username, a forwarded address): anything but short
    # printable ASCII is hashed, so every key is one the local cache accepts without warning.
    if not SAFE_KEY.fullmatch(key):
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"throttle:{key}:{int(time.time() // window_seconds)}"


def count_in_window(key: str, window_seconds: int) -> int:
    """Add one to the key's count in the current window and return the new count."""
    windowed = _windowed(key, window_seconds)
    client = _redis()
    if client is not None and not outage.skipping():
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(windowed)
        pipeline.expire(windowed, window_seconds)
        try:
            count, _ = pipeline.execute()
            return int(count)
        except redis.RedisError as exc:
            outage.failed(exc)
    process_counts.add(windowed, 0, window_seconds)
    return process_counts.incr(windowed)


def peek_in_window(key: str, window_seconds: int) -> int:
    """The key's count in the current window, without adding to it."""
    windowed = _windowed(key, window_seconds)
    client = _redis()
    if client is not None and not outage.skipping():
        try:
            return int(client.get(windowed) or 0)
        except redis.RedisError as exc:
            outage.failed(exc)
    return int(process_counts.get(windowed, 0))


class WindowCountMixin:
    """Replaces ``allow_request`` of DRF's SimpleRateThrottle family; rates and keys are theirs."""

    rate: str | None
    num_requests: Any
    duration: Any

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if key is None:
            return True
        if count_in_window(key, self.duration) <= self.num_requests:
            return True
        self.retry_after = self.duration - time.time() % self.duration
        return False

    def wait(self) -> float:
        return self.retry_after


class AnonRateThrottle(WindowCountMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(WindowCountMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(WindowCountMixin, throttling.ScopedRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        # As DRF's: the rate comes from the view's scope, known only now.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

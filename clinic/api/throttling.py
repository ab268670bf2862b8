"""Rate limits that cost one Redis round trip per request.

DRF's throttles keep a list of every request's time in the cache and rewrite it on each
request: two round trips and a pickle that grows with the rate. These count requests in fixed
windows instead, with one pipelined INCR and EXPIRE on Redis (``REDIS_URL``), or the local
cache when there is no Redis (the embedded mode, and each process alone). A fixed window lets a
client make up to twice the rate across a window's edge, which is fine for stopping abuse.
"""

import time
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache as local_cache
from rest_framework import throttling


@cache
def _redis() -> redis.Redis | None:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1) if settings.REDIS_URL else None


def count_in_window(key: str, window_seconds: int) -> int:
    """Add one to the key's count in the current window and return the new count."""
    window = int(time.time() // window_seconds)
    windowed = f"throttle:{key}:{window}"
    client = _redis()
    if client is None:
        local_cache.add(windowed, 0, window_seconds)
        return local_cache.incr(windowed)
    pipeline = client.pipeline(transaction=False)
    pipeline.incr(windowed)
    pipeline.expire(windowed, window_seconds)
    count, _ = pipeline.execute()
    return int(count)


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

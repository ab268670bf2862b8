"""Living without Redis for a while: it holds only counters, caches and queued work.

Diaries and alerts are stored in the database, so nothing a request must do may wait on Redis.
Code that reads or writes Redis on the request path catches its errors, carries on without it,
and reports the outage here: one warning per ``WARN_EVERY_SECONDS`` per kind of use, not one
per request. After a failure Redis is left alone for ``RETRY_AFTER_SECONDS``, so a Redis that
hangs instead of refusing costs one timeout every few seconds rather than one per request.
"""

import logging
import threading
import time

logger = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60.0
RETRY_AFTER_SECONDS = 5.0


class RedisOutage:
    """Whether one use of Redis (throttling, the cache) is currently doing without it."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self._warned_at = -WARN_EVERY_SECONDS

    def skipping(self) -> bool:
        """True while Redis failed recently: the caller goes without it and does not wait."""
        return time.monotonic() < self._skip_until

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._skip_until = now + RETRY_AFTER_SECONDS
            warn = now - self._warned_at >= WARN_EVERY_SECONDS
            if warn:
                self._warned_at = now
        if warn:
            logger.warning("Redis unreachable, %s goes on without it: %s", self.what, exc)

    def reset(self) -> None:
        """Forget a past outage (tests, or a changed Redis URL)."""
        with self._lock:
            self._skip_until = 0.0
            self._warned_at = -WARN_EVERY_SECONDS

"""Django's Redis cache, made to do without Redis when it is down.

The cache only ever holds what can be fetched or computed again (an EHR's published keys, for
example), so an unreachable Redis is a miss, not an error: reads answer the default, writes are
dropped, and the outage is logged once a minute (see ``config.redis_outage``). Django's own
``RedisCache`` raises instead, which would turn every request that touches the cache into a 500.
``incr`` and ``clear`` still raise: nothing on the request path uses them.
"""

from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

from config.redis_outage import RedisOutage

outage = RedisOutage("the cache")


class FailSafeRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and whose writes are dropped while Redis is unreachable."""

    def _safely(self, default: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
        if outage.skipping():
            return default
        try:
            return call(*args, **kwargs)
        except redis.RedisError as exc:
            outage.failed(exc)
            return default

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._safely(False, super().add, key, value, timeout, version))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._safely(default, super().get, key, default, version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._safely(None, super().set, key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._safely(False, super().touch, key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return bool(self._safely(False, super().delete, key, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return dict(self._safely({}, super().get_many, keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return bool(self._safely(False, super().has_key, key, version))

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return list(self._safely(list(data), super().set_many, data, timeout, version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._safely(None, super().delete_many, keys, version)

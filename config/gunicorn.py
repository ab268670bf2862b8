"""gunicorn settings for production: ``gunicorn -c config/gunicorn.py config.wsgi``.

Sync workers: the service is CPU-bound Python with short requests, so one process per core
(``WEB_CONCURRENCY``, default the number of cores) serves it best; scale out with more
processes or machines behind the proxy, all on the same database and broker.
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (behind the proxy)
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Recycle workers now and then, so no slow leak can grow without bound.
max_requests = 10_000
max_requests_jitter = 1_000
# Trust X-Forwarded-* only from the reverse proxy.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# One JSON object per request; the path only (query strings may carry search terms).
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"bytes": "%(B)s", "duration_ms": %(M)s, "request_id": "%({x-request-id}o)s"}'
)

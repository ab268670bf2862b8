"""The Celery application: configured from Django settings (``CELERY_*``), tasks from the apps."""

import logging
import os
from typing import Any

from celery import Celery, Task
from django.db import transaction
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("spasticity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Task, *args: Any, countdown: float | None = None) -> None:
    """Send ``task(*args)`` once the current transaction commits (``countdown`` seconds later, if given).

    If the broker cannot be reached the work is not lost: the rows that describe it are
    already committed, and a periodic sweep enqueues it again. So a broker outage is logged,
    not raised into a request whose data is already safely stored.
    """

    def send() -> None:
        try:
            task.apply_async(args=args, countdown=countdown)
        except OperationalError:
            logger.warning("broker unreachable; %s%r left for the periodic sweep", task.name, args)

    transaction.on_commit(send)

"""The Celery app the Celery tests (and their worker subprocesses) run.

It stands for a site's own ``proj/celery.py``: it reads nothing from this app
but finds ``django_smsverify.tasks`` through ``autodiscover_tasks()``. The
broker is a Redis database of its own (``CELERY_BROKER_URL``, default
``redis://127.0.0.1:6379/11``), flushed by the tests; the same database is
the result backend, so the tests can prove nothing is stored there.
"""

from __future__ import annotations

import os

from celery import Celery

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")

#: The queue the tests route the delivery task to (SMSVERIFY["CELERY"]["QUEUE"]).
QUEUE = "smsverify-tests"

app = Celery("smsverify_tests")
app.conf.update(
    broker_url=BROKER_URL,
    result_backend=BROKER_URL,
    broker_connection_retry_on_startup=True,
    # Keep pytest's log capture: an embedded worker must not replace the root handlers.
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_transport_options={
        # The worker-killed test shortens how long an unacknowledged message
        # stays with a dead worker; everything else keeps Redis' default hour.
        "visibility_timeout": float(os.environ.get("SMSVERIFY_TEST_VISIBILITY", 3600)),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 2,
    },
)
app.autodiscover_tasks(["django_smsverify"])

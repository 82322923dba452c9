"""Latency of ``POST send_code`` with a slow provider: "sync" against "celery" delivery.

    python benchmarks/latency.py [--sync-requests 20] [--celery-requests 200]
                                 [--concurrency 1] [--provider-delay 1.0]
                                 [--max-seconds 60]

One process runs everything on 127.0.0.1:

- the fake Ronglian server from the test suite, answering every send after
  ``--provider-delay`` seconds (1 s by default);
- the site: Django's threaded WSGI server with this app's URLs, the Ronglian
  backend pointed at the fake, verification state in Redis (``REDIS_URL``,
  default ``redis://127.0.0.1:6379/14``), records in a throwaway SQLite file;
- for the "celery" phase, a real Celery worker (``celery.contrib.testing``,
  thread pool) on the Redis broker at ``CELERY_BROKER_URL`` (default
  ``redis://127.0.0.1:6379/11``). Both Redis databases are flushed.

Clients post JSON over real HTTP, each request to a new number (so no
cooldown refuses it), with the captcha off: what is measured is the send
path. Each phase stops after its request count or ``--max-seconds``,
whichever comes first. The report gives p50/p99 per mode, the ratio of the
p99s, and how many SMS the worker had delivered when the run ended.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The project root replaces this folder on the path: the folder's http.py
# would otherwise hide the standard library's http package.
sys.path[0] = str(ROOT)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
QUEUE = "smsverify-bench"

for _name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)  # loopback traffic only

urlpatterns: list[Any] = []  # filled in configure(); this module is the ROOT_URLCONF


def configure(fake_url: str, db_path: str) -> None:
    import django
    from django.conf import settings
    from django.urls import include, path

    from tests.fake_providers import RONGLIAN_ACCOUNT_SID, RONGLIAN_APP_ID, RONGLIAN_AUTH_TOKEN

    settings.configure(
        SECRET_KEY="benchmark-not-a-secret",  # noqa: S106 - a throwaway local run
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1"],
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django_smsverify",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": db_path,
                "OPTIONS": {
                    "timeout": 20,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        },
        CACHES={"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}},
        SMS_BACKEND="django_smsverify.backends.ronglian.SmsBackend",
        SMSVERIFY={
            "CAPTCHA": False,
            "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": None, "IP_PER_HOUR": None},
            "CELERY": {"QUEUE": QUEUE},
            "RONGLIAN": {
                "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
                "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
                "APP_ID": RONGLIAN_APP_ID,
                "TEMPLATE_ID": "1",
                "BASE_URL": fake_url,
                "TIMEOUT": (2, 10),
            },
        },
        LOGGING_CONFIG=None,
    )
    django.setup()
    urlpatterns.append(path("accounts/phone/", include("django_smsverify.urls")))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_site() -> tuple[Any, str]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def setup(self) -> None:
            # As production servers (gunicorn, uWSGI) do: without it Nagle's
            # algorithm holds the response body until the client's delayed
            # ACK of the headers, adding ~40 ms to every keep-alive request.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/accounts/phone/send-code/"


def run_phase(
    url: str, first_number: int, requests_count: int, concurrency: int, max_seconds: float
) -> tuple[list[float], int]:
    """POST ``requests_count`` sends; return the latencies (s) and the failures."""
    import requests

    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    local = threading.local()

    def one(i: int) -> None:
        nonlocal failures
        if time.monotonic() > deadline:
            return
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = json.dumps({"phone": f"+86138{first_number + i:08d}", "purpose": "register"})
        started = time.perf_counter()
        response = session.post(url, data=body, headers={"Content-Type": "application/json"})
        elapsed = time.perf_counter() - started
        with lock:
            if response.status_code == 200:
                latencies.append(elapsed)
            else:
                failures += 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests_count)))
    return latencies, failures


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]  # nearest-rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sync-requests", type=int, default=20)
    parser.add_argument("--celery-requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--provider-delay", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()

    import redis

    from tests.fake_providers import FakeRonglian

    fake = FakeRonglian()
    fake.reply("slow", delay=args.provider_delay)
    tmp = tempfile.TemporaryDirectory(prefix="smsverify-bench-")
    configure(fake.url, os.path.join(tmp.name, "bench.sqlite3"))
    cache_redis = redis.Redis.from_url(REDIS_URL)
    broker_redis = redis.Redis.from_url(BROKER_URL)
    cache_redis.flushdb()
    broker_redis.flushdb()

    from celery import Celery
    from celery.contrib.testing.worker import start_worker
    from django.test import override_settings
    from django.utils import timezone

    import django_smsverify.tasks  # noqa: F401 - registers the task with the app below
    from django_smsverify.models import SmsDelivery

    app = Celery("smsverify_bench")
    app.conf.update(
        broker_url=BROKER_URL,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=QUEUE,
    )
    app.set_default()
    app.set_current()

    server, url = start_site()
    results: dict[str, dict[str, Any]] = {}
    try:
        base = django_settings_smsverify()
        with override_settings(SMSVERIFY={**base, "DELIVERY": "sync"}):
            run_phase(url, 0, 2, 1, args.max_seconds)  # warm-up
            lat, failed = run_phase(
                url, 100, args.sync_requests, args.concurrency, args.max_seconds
            )
        results["sync"] = summary(lat, failed)
        celery_started = timezone.now()
        with (
            override_settings(SMSVERIFY={**base, "DELIVERY": "celery"}),
            start_worker(
                app,
                pool="threads",
                concurrency=50,
                perform_ping_check=False,
                queues=[QUEUE],
                shutdown_timeout=30,
            ),
        ):
            run_phase(url, 50_000, 5, 1, args.max_seconds)  # warm-up
            lat, failed = run_phase(
                url, 100_000, args.celery_requests, args.concurrency, args.max_seconds
            )
            results["celery"] = summary(lat, failed)
            # Let the worker finish (bounded) so the report can say it did the work.
            queued = args.celery_requests + 5
            deadline = time.monotonic() + max(5.0, args.provider_delay * 3 + queued / 25)
            while time.monotonic() < deadline:
                if not SmsDelivery.objects.filter(status=SmsDelivery.Status.QUEUED).exists():
                    break
                time.sleep(0.2)
            results["celery"]["delivered_by_worker"] = SmsDelivery.objects.filter(
                status=SmsDelivery.Status.SENT, created_at__gte=celery_started
            ).count()
    finally:
        server.shutdown()
        server.server_close()
        fake.stop()
        broker_redis.flushdb()
        cache_redis.flushdb()
        tmp.cleanup()

    sync, celery = results["sync"], results["celery"]
    ratio = sync["p99_ms"] / celery["p99_ms"] if celery["p99_ms"] else float("inf")
    print(
        f"provider delay {args.provider_delay:.1f} s, concurrency {args.concurrency}, "
        f"python {sys.version.split()[0]}"
    )
    for name, row in results.items():
        extra = (
            f", delivered by the worker {row['delivered_by_worker']}"
            if "delivered_by_worker" in row
            else ""
        )
        print(
            f"{name:>6}: {row['requests']:4d} requests ({row['failed']} failed)  "
            f"p50 {row['p50_ms']:8.1f} ms  p99 {row['p99_ms']:8.1f} ms{extra}"
        )
    print(f"p99 sync / p99 celery: {ratio:.0f}x")
    print(json.dumps({**results, "p99_ratio": round(ratio, 1)}))


def django_settings_smsverify() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.SMSVERIFY)


def summary(latencies: list[float], failed: int) -> dict[str, Any]:
    if not latencies:
        return {"requests": 0, "failed": failed, "p50_ms": 0.0, "p99_ms": 0.0}
    return {
        "requests": len(latencies),
        "failed": failed,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


if __name__ == "__main__":
    main()

"""Does a send-code answer take longer for a registered number than for a new one?

    python benchmarks/enumeration_timing.py [--rounds 200] [--provider-delay 0.4]
                                            [--concurrency 8] [--provider ronglian]

With ``PREVENT_ENUMERATION`` on (the default) a registered number asking for a
sign-up code gets a notice SMS instead, and a new number gets the code. In
"sync" delivery both must wait for the provider alike, or the response time
tells an attacker which numbers have accounts. This sends ``--rounds``
sign-up requests for registered numbers and as many for new ones, alternating,
through Django's test client into the real view, the real Ronglian (or
Tencent Cloud) backend and the fake provider from the test suite answering
after ``--provider-delay`` seconds. Verification state lives in Redis
(``REDIS_URL``, default ``redis://127.0.0.1:6379/14``, flushed), users and
delivery records in a throwaway SQLite file. ``--concurrency`` client threads
share the load; each alternates between the two kinds so drift hits both.

Prints the medians and p90s per kind and the gap between the medians; the
target is a gap under 10 ms. Exits 1 when a request does not answer 200.
"""

from __future__ import annotations

import argparse
import os
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

for _name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)  # loopback traffic only

urlpatterns: list[Any] = []  # filled in configure(); this module is the ROOT_URLCONF

NOTICES = {"registered": "7001", "unregistered": "7002", "phone_changed": "7003"}


def provider_block(provider: str, server: Any) -> dict[str, Any]:
    from tests import fake_providers as fp

    if provider == "ronglian":
        block = {
            "ACCOUNT_SID": fp.RONGLIAN_ACCOUNT_SID,
            "AUTH_TOKEN": fp.RONGLIAN_AUTH_TOKEN,
            "APP_ID": fp.RONGLIAN_APP_ID,
            "BASE_URL": server.url,
        }
    else:
        block = {
            "SECRET_ID": fp.TENCENT_SECRET_ID,
            "SECRET_KEY": fp.TENCENT_SECRET_KEY,
            "SDK_APP_ID": fp.TENCENT_SDK_APP_ID,
            "SIGN_NAME": "测试签名",
            "ENDPOINT": server.host,
            "SCHEME": "http",
        }
    return {**block, "TEMPLATE_ID": "1001", "NOTICE_TEMPLATE_ID": NOTICES, "TIMEOUT": (2, 10)}


def configure(provider: str, server: Any, db_path: str) -> None:
    import django
    from django.conf import settings
    from django.urls import include, path

    settings.configure(
        SECRET_KEY="benchmark-not-a-secret",  # noqa: S106 - a throwaway local run
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
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
        SMS_BACKEND=f"django_smsverify.backends.{provider}.SmsBackend",
        SMSVERIFY={
            "CAPTCHA": False,
            "PREVENT_ENUMERATION": True,
            "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": None, "IP_PER_HOUR": None},
            provider.upper(): provider_block(provider, server),
        },
        LOGGING_CONFIG=None,
    )
    django.setup()
    urlpatterns.append(path("accounts/phone/", include("django_smsverify.urls")))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="requests of each kind")
    parser.add_argument("--provider-delay", type=float, default=0.4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--provider", choices=["ronglian", "tencent"], default="ronglian")
    args = parser.parse_args()

    from tests.fake_providers import FakeRonglian, FakeTencent

    server = FakeRonglian() if args.provider == "ronglian" else FakeTencent()
    server.reply("slow", delay=args.provider_delay)
    with tempfile.TemporaryDirectory() as tmp:
        configure(args.provider, server, str(Path(tmp) / "bench.sqlite3"))
        try:
            return run(args, server)
        finally:
            server.stop()


def run(args: Any, server: Any) -> int:
    import redis
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from django_smsverify.phone_storage import default_phone_storage

    redis.Redis.from_url(REDIS_URL).flushdb()
    warm = 4
    total = args.rounds + warm
    registered = [f"+86138{i:08d}" for i in range(total)]
    unregistered = [f"+86139{i:08d}" for i in range(total)]
    storage = default_phone_storage()
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(username=f"user_{i:08d}") for i in range(total)]
    )
    for user, phone in zip(users, registered, strict=True):
        storage.attach(user, phone)

    times: dict[str, list[float]] = {"registered": [], "unregistered": []}
    failures: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def one(kind: str, phone: str, keep: bool) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(REMOTE_ADDR="203.0.113.7")
        started = time.perf_counter()
        response = client.post(
            "/accounts/phone/send-code/", {"phone": phone, "purpose": "register"}
        )
        elapsed = time.perf_counter() - started
        with lock:
            if response.status_code != 200:
                failures.append(
                    f"{kind} {phone}: {response.status_code} {response.content[:200]!r}"
                )
            elif keep:
                times[kind].append(elapsed)

    def pair(i: int) -> None:
        try:
            first, second = (
                ("registered", "unregistered") if i % 2 else ("unregistered", "registered")
            )
            numbers = {"registered": registered[i], "unregistered": unregistered[i]}
            one(first, numbers[first], i >= warm)
            one(second, numbers[second], i >= warm)
        finally:
            connections.close_all()

    for i in range(warm):  # imports, connections, script loading
        pair(i)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(pair, range(warm, total)))
    wall = time.perf_counter() - started

    templates = [r.json.get("templateId") or r.json.get("TemplateId") for r in server.requests]
    notices = sum(1 for t in templates if t == NOTICES["registered"])
    print(
        f"provider {args.provider}, delay {args.provider_delay * 1000:.0f} ms, "
        f"{args.rounds} requests of each kind, concurrency {args.concurrency}, "
        f"{wall:.1f} s"
    )
    print(f"provider calls: {len(server.requests)} ({notices} notices with their own template)")
    medians = {}
    for kind, values in times.items():
        values.sort()
        medians[kind] = statistics.median(values) * 1000
        p90 = values[int(len(values) * 0.9)] * 1000
        print(f"  {kind:<13} median {medians[kind]:7.1f} ms   p90 {p90:7.1f} ms   n={len(values)}")
    gap = abs(medians["registered"] - medians["unregistered"])
    print(f"median gap: {gap:.1f} ms (target < 10 ms)")
    if failures:
        print(f"{len(failures)} requests failed, e.g. {failures[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

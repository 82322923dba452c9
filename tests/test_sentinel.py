"""The app on Redis Sentinel, with the settings docs/deployment.rst gives.

A Sentinel group of the test session's own (tests/sentinel_topology.py:
master, replica, three sentinels on free loopback ports) serves each of the
three documented configurations, read from the document and used as written
but for the sentinels' addresses: django-redis, Django's own ``RedisCache``
and django-valkey. On each: the store contract (tests/test_verification.py),
the races (tests/test_races.py), password login limits and the captcha; on
django-redis also the hand-off to a Celery worker (tests/test_celery_delivery.py).

Failover: sender threads post captcha + send-code over HTTP while the master
is killed (``kill -9`` by its PID, or frozen with SIGSTOP). Every answer is a
200, a 429 (a resend inside the cooldown) or a 503, never a 500; the service
is back within a bound; each number got one SMS per accepted send, and no
number two accepted sends (the cooldown survived the failover). The figures
are printed (``pytest -s``) and quoted in docs/deployment.rst.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connections
from django.test import Client

import django_smsverify
from django_smsverify import verification
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.exceptions import RateLimited
from django_smsverify.store import get_store
from django_smsverify.store.redis import RedisStore
from tests import (
    test_captcha,
    test_celery_delivery,
    test_password_login_limits,
    test_races,
    test_verification,
)
from tests.sentinel_topology import (
    SentinelGroup,
    adopt,
    documented_settings,
    sentinel_addresses,
    sentinel_group,
)

pytestmark = pytest.mark.heavy

#: Documented configuration of each client library, by the title of its block.
CLIENTS = {
    "django-redis": "Sentinel, django-redis",
    "redis": "Sentinel, Django's RedisCache",
    "django-valkey": "Sentinel, django-valkey",
}

#: How long a failover may take before the test fails: Sentinel's
#: down-after-milliseconds (1 s here), the vote and promotion, and a client's
#: socket timeout (1 s in the documented settings).
BACK_WITHIN = 15.0


@pytest.fixture(scope="session")
def sentinel() -> Iterator[SentinelGroup]:
    yield from sentinel_group()


def sentinel_caches(client: str, group: SentinelGroup) -> dict[str, Any]:
    """The documented ``CACHES`` for ``client``, pointed at ``group``'s sentinels.

    One thing is added, as tests/conftest.py does for its caches: room for the
    200 connections the race tests open at once (redis-py 8 caps a pool at
    100). django-redis and django-valkey keep one pool per process and URL,
    made by whichever test comes first, so every test here asks for the same.
    """
    configured = documented_settings(CLIENTS[client], sentinel_addresses(group))["CACHES"]
    options = configured["default"]["OPTIONS"]
    if client == "redis":
        options["max_connections"] = 500
    else:
        options["CONNECTION_POOL_KWARGS"] = {"max_connections": 500}
    return configured


@pytest.fixture(params=list(CLIENTS))
def store_cache(request: pytest.FixtureRequest, settings: Any, sentinel: SentinelGroup) -> Any:
    """Overrides the suite's fixture: the adopted tests run on Sentinel."""
    settings.CACHES = sentinel_caches(request.param, sentinel)
    caches["default"].clear()
    assert isinstance(get_store(), RedisStore)
    yield f"sentinel-{request.param}"
    caches["default"].clear()


@pytest.fixture
def members(db: None) -> None:
    """test_password_login_limits's users (an autouse fixture there)."""
    test_password_login_limits.create_members()


adopt(globals(), test_verification, fixtures=["clock"])
adopt(globals(), test_races)
adopt(
    globals(),
    test_password_login_limits,
    [
        "test_page_refuses_the_right_password_once_the_number_is_limited",
        "test_a_successful_login_gives_its_attempt_back",
        "test_api_answers_429_with_retry_after",
        "test_concurrent_guesses_cannot_get_past_the_limit",
        "test_store_counts_nothing_when_any_counter_is_full",
        "test_store_refund_keeps_the_window",
    ],
    fixtures=["limits"],
    marks=[pytest.mark.usefixtures("members")],
)
adopt(
    globals(),
    test_captcha,
    [
        "test_right_answer_passes_once",
        "test_wrong_answer_burns_the_challenge",
        "test_concurrent_submissions_of_one_solved_challenge_accept_exactly_one",
    ],
)


@pytest.fixture
def configure(
    settings: Any,
    sentinel: SentinelGroup,
    broker: Any,
    fake: test_celery_delivery.ScriptedRonglian,
) -> Iterator[None]:
    """Overrides tests/test_celery_delivery.py's: the hand-off to the Celery
    worker goes through the Sentinel cache (django-redis, as documented)."""
    settings.CACHES = sentinel_caches("django-redis", sentinel)
    settings.SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"
    settings.SMSVERIFY = test_celery_delivery.smsverify_settings(fake)
    caches["default"].clear()
    yield
    caches["default"].clear()


adopt(
    globals(),
    test_celery_delivery,
    ["test_happy_path_over_http", "test_provider_failing_twice_then_succeeding"],
    fixtures=["broker", "fake", "worker"],
)


def test_scripts_run_on_the_master(store_cache: str, sentinel: SentinelGroup) -> None:
    """Writes land on the server the sentinels call master (a replica would
    refuse them), and reach the replica."""
    verification.send_code("+8613800138000", "register")
    master = sentinel.master_port()
    replica = next(port for port in sentinel.data_ports if port != master)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sentinel.dbsize(replica) == 0:
        time.sleep(0.02)
    assert sentinel.dbsize(master) > 0
    assert sentinel.dbsize(replica) == sentinel.dbsize(master)


# Failover ---------------------------------------------------------------------


class Traffic:
    """Sender threads: each takes fresh numbers, asks for a captcha and a code
    over HTTP, and right after an accepted send asks again (a resend inside
    the cooldown). Every answer is recorded with its time."""

    def __init__(self, threads: int = 8) -> None:
        self.threads = threads
        self.numbers = (f"+86139{n:08d}" for n in itertools.count())
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.events: list[tuple[float, str, int, str]] = []  # time, step, status, number
        self.errors: list[BaseException] = []
        self.workers = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def finish(self) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=30)
        assert not any(worker.is_alive() for worker in self.workers)

    def record(self, step: str, status: int, number: str) -> None:
        with self.lock:
            self.events.append((time.monotonic(), step, status, number))

    def send(self, client: Client, number: str, step: str) -> int:
        answer = client.get("/accounts/phone/captcha/")
        self.record("captcha", answer.status_code, number)
        if answer.status_code != 200:
            return answer.status_code
        key = answer.json()["key"]
        data = {"phone": number, "purpose": "register", "captcha_0": key}
        data["captcha_1"] = answer_for(key)
        status = client.post("/accounts/phone/send-code/", data).status_code
        self.record(step, status, number)
        return status

    def run(self, index: int) -> None:
        client = Client(raise_request_exception=False, REMOTE_ADDR=f"198.51.100.{index + 1}")
        try:
            while not self.stop.is_set():
                with self.lock:
                    number = next(self.numbers)
                if self.send(client, number, "send") == 200:
                    self.send(client, number, "resend")
        except BaseException as exc:  # reported by the test, never swallowed
            self.errors.append(exc)
        finally:
            connections.close_all()

    def since(self, t0: float) -> list[tuple[float, str, int, str]]:
        return [event for event in self.events if event[0] >= t0]


def run_failover(sentinel: SentinelGroup, fail: str) -> dict[str, Any]:
    """Send traffic, fail the master with ``fail`` ("kill" or "stop"), and
    keep sending until the new master has served for a second; return what
    happened."""
    traffic = Traffic()
    traffic.start()
    time.sleep(1.0)
    old_master = sentinel.master_port()
    pid = sentinel.pid(old_master)
    t0 = time.monotonic()
    if fail == "kill":
        sentinel.kill_master()
    else:
        os.kill(pid, signal.SIGSTOP)
    try:
        while time.monotonic() - t0 < BACK_WITHIN + 5:
            time.sleep(0.1)
            events = traffic.since(t0)
            moved = sentinel.master_port() != old_master
            failed = [e for e in events if e[2] == 503]
            served = [e for e in events if e[2] == 200 and failed and e[0] > failed[-1][0]]
            if moved and served and time.monotonic() - served[0][0] > 1.0:
                break
    finally:
        traffic.finish()
        if fail == "stop":
            os.kill(pid, signal.SIGCONT)
    if fail == "kill":
        sentinel.bring_back(old_master)
    else:
        sentinel.wait_healthy()

    events = traffic.since(t0)
    failed = [e for e in events if e[2] == 503]
    last_failure = failed[-1][0] if failed else t0
    back = next((e[0] for e in events if e[2] == 200 and e[0] > last_failure), None)
    return {
        "traffic": traffic,
        "t0": t0,
        "requests": len(traffic.events),
        "statuses": Counter(e[2] for e in traffic.events),
        "first_503": failed[0][0] - t0 if failed else None,
        "last_503": last_failure - t0,
        "back": None if back is None else back - t0,
    }


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("client", "fail"),
    [
        ("django-redis", "kill"),
        ("redis", "kill"),
        ("django-valkey", "kill"),
        ("django-redis", "stop"),
    ],
)
def test_failover_answers_503_then_serves_again_and_sends_nothing_twice(
    settings: Any, sentinel: SentinelGroup, client: str, fail: str
) -> None:
    settings.CACHES = sentinel_caches(client, sentinel)
    settings.SMSVERIFY = {
        "PUMPING_GUARD": False,
        "SEND_LIMITS": {"IP_PER_HOUR": None},
        "CAPTCHA": {"CREATE_PER_MINUTE": None, "CREATE_PER_HOUR": None},
    }
    caches["default"].clear()

    result = run_failover(sentinel, fail)
    traffic: Traffic = result["traffic"]
    t0 = result["t0"]
    how = "kill -9" if fail == "kill" else "SIGSTOP"
    print(
        f"\n[{client}, {how}] {result['requests']} requests {dict(result['statuses'])}; "
        f"503 from {seconds(result['first_503'])} to {seconds(result['last_503'])}, "
        f"served again {seconds(result['back'])} after the failure"
    )
    assert not traffic.errors
    # Only 200, 429 (a resend inside the cooldown) and 503: never a 500.
    assert set(result["statuses"]) <= {200, 429, 503}, result["statuses"]
    assert result["statuses"][503] > 0  # the failure was felt...
    assert result["back"] is not None and result["back"] < BACK_WITHIN  # ...and is over
    accepted = Counter(e[3] for e in traffic.events if e[1] == "send" and e[2] == 200)
    # Every accepted send has its SMS, and nothing else was sent.
    sms = Counter(message.to[0] for message in django_smsverify.outbox)
    assert sms == accepted
    # No resend inside the cooldown went out, however close to the failure...
    assert not [e for e in traffic.events if e[1] == "resend" and e[2] == 200]
    # ...and the new master still has the cooldown of every number sent to
    # before the failure: a new send to any of them is refused.
    before = [e[3] for e in traffic.events if e[1] == "send" and e[2] == 200 and e[0] < t0]
    assert before
    for number in before:
        with pytest.raises(RateLimited) as limited:
            verification.send_code(number, "register")
        assert limited.value.scope == "cooldown"

"""``SMSVERIFY["DELIVERY"] = "celery"`` end to end: a real Celery worker on a
real Redis broker (``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/11``)
calls the Ronglian backend, which talks to the fake Ronglian server.

The embedded worker (``celery.contrib.testing.worker``) runs in a thread of
the test process; the worker-killed test runs workers as subprocesses, so
one can be killed with SIGKILL mid-call.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, current_app
from celery import _state as celery_state
from celery.contrib.testing.worker import start_worker
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client

from django_smsverify import delivery, verification
from django_smsverify.models import SmsDelivery
from tests import celery_app
from tests.conftest import CACHE_CONFIGS, REQUIRE_REDIS
from tests.fake_providers import (
    RONGLIAN_ACCOUNT_SID,
    RONGLIAN_APP_ID,
    RONGLIAN_AUTH_TOKEN,
    FakeRonglian,
)
from tests.helpers import solved_captcha

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

PHONE = "+8613800138000"
URL = "/accounts/phone/send-code/"
QUEUE = celery_app.QUEUE
ROOT = Path(__file__).resolve().parent.parent


class ScriptedRonglian(FakeRonglian):
    """The fake Ronglian, answering each request with the next mode of ``script``
    (the last mode stays once the script runs out)."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[str] = []

    def answer(self, received: Any) -> tuple[int, str, bytes]:
        with self.lock:
            if self.script:
                self.mode = self.script.pop(0)
        return super().answer(received)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedRonglian]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = ScriptedRonglian()
    yield server
    server.stop()


@pytest.fixture
def broker() -> Iterator[Any]:
    """The broker's own Redis database, empty before and after the test."""
    import redis

    client = redis.Redis.from_url(celery_app.BROKER_URL)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        if REQUIRE_REDIS:
            pytest.fail(f"no Redis broker at {celery_app.BROKER_URL}")
        pytest.skip(f"no Redis broker at {celery_app.BROKER_URL}")
    client.flushdb()
    with _using(celery_app.app):
        yield client
    client.flushdb()
    client.close()


@contextlib.contextmanager
def _using(app: Celery) -> Iterator[None]:
    """Make ``app`` the current and default Celery app (what ``shared_task`` uses)."""
    previous_current = current_app._get_current_object()
    previous_default = celery_state.default_app
    app.set_current()
    app.set_default()
    try:
        yield
    finally:
        celery_state.set_default_app(previous_default)
        previous_current.set_current()


def smsverify_settings(fake: FakeRonglian, **overrides: Any) -> dict[str, Any]:
    celery = {"QUEUE": QUEUE, "MAX_RETRIES": 3, "RETRY_BACKOFF": 0.2, "RETRY_BACKOFF_MAX": 1}
    celery.update(overrides.pop("CELERY", {}))
    return {
        "DELIVERY": "celery",
        "CELERY": celery,
        "RONGLIAN": {
            "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
            "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
            "APP_ID": RONGLIAN_APP_ID,
            "TEMPLATE_ID": "1",
            "BASE_URL": fake.url,
            "TIMEOUT": (2, 10),
        },
        **overrides,
    }


@pytest.fixture
def configure(settings, redis_db, broker, fake) -> Callable[..., None]:
    """Celery delivery through the Ronglian backend to ``fake``, state in real Redis."""
    settings.CACHES = {"default": CACHE_CONFIGS["django-redis"]}
    settings.SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"

    def apply(**overrides: Any) -> None:
        settings.SMSVERIFY = smsverify_settings(fake, **overrides)

    apply()
    yield apply
    caches["default"].clear()


@pytest.fixture
def worker(configure) -> Iterator[Any]:
    """An embedded worker consuming the test queue."""
    with start_worker(
        celery_app.app,
        pool="solo",
        perform_ping_check=False,
        queues=[QUEUE],
        loglevel="DEBUG",
        shutdown_timeout=15,
    ) as running:
        yield running


class CodeCatcher:
    """A message factory that remembers the code it put in the SMS."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    def __call__(self, phone: str, code: str, purpose: str, ttl: int) -> Any:
        self.codes.append(code)
        return delivery.build_message(phone, code, purpose, ttl)


def send(catcher: CodeCatcher | None = None, phone: str = PHONE) -> verification.SendResult:
    return verification.send_code(phone, "register", message_factory=catcher)


def wait_final(timeout: float = 15.0) -> SmsDelivery:
    """The only delivery record, once it is no longer ``queued``."""
    deadline = time.monotonic() + timeout
    while True:
        record = SmsDelivery.objects.get()
        if record.status != SmsDelivery.Status.QUEUED or time.monotonic() > deadline:
            return record
        time.sleep(0.05)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_happy_path_over_http(worker, fake):
    client = Client()
    started = time.monotonic()
    response = client.post(URL, {"phone": PHONE, "purpose": "register", **solved_captcha(client)})
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True

    record = wait_final()
    assert record.status == SmsDelivery.Status.SENT
    assert record.attempts == 1
    assert record.error_code == ""
    assert record.provider_message_id
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.verified, request.problems
    code = request.json["datas"][0]
    assert request.json["to"] == "13800138000"
    assert code not in response.content.decode()
    # The code the worker sent is the one the store accepts.
    assert verification.check_code(PHONE, code, "register") == PHONE
    assert time.monotonic() - started < 10


def test_code_never_in_task_message_cache_logs_or_result_backend(configure, broker, fake, caplog):
    caplog.set_level(logging.DEBUG)
    catcher = CodeCatcher()
    send(catcher)
    code = catcher.codes[0]
    record = SmsDelivery.objects.get()

    # The task message as the broker holds it, before any worker took it.
    raw = broker.lrange(QUEUE, 0, -1)
    assert len(raw) == 1
    envelope = json.loads(raw[0])
    body = base64.b64decode(envelope["body"]).decode()
    assert code not in raw[0].decode()
    assert code not in body
    headers = envelope["headers"]
    assert headers["task"] == "django_smsverify.deliver_sms"
    assert headers["argsrepr"] == "()"
    assert headers["kwargsrepr"] == repr({"record_id": record.pk})
    assert headers["expires"] is not None
    # Nor can it be read from the cache: only the padded half is there.
    cache_client = caches["default"].client.get_client()
    for key in cache_client.keys("*"):
        if cache_client.type(key) == b"hash":  # the traffic counters
            values = [b"%s=%s" % kv for kv in cache_client.hgetall(key).items()]
        else:
            values = [cache_client.get(key) or b""]
        for value in values:
            assert code.encode() not in value, key

    with start_worker(
        celery_app.app, pool="solo", perform_ping_check=False, queues=[QUEUE], loglevel="DEBUG"
    ):
        record = wait_final()
    assert record.status == SmsDelivery.Status.SENT
    assert fake.requests[0].json["datas"][0] == code
    assert code not in caplog.text
    assert "django_smsverify.deliver_sms" in caplog.text  # the worker's log was captured
    # No result backend entry, and the hand-off left the cache.
    assert broker.keys("celery-task-meta-*") == []
    assert [k for k in cache_client.keys("*") if b":handoff:message" in k] == []


def test_provider_failing_twice_then_succeeding(worker, fake):
    fake.script = ["http500", "http500", "ok"]
    send()
    record = wait_final()
    assert record.status == SmsDelivery.Status.SENT
    assert record.attempts == 3
    assert len(fake.requests) == 3
    # A success clears the transient error the earlier tries recorded.
    assert (record.error_code, record.transient) == ("", False)


def test_retries_still_deliver_with_delivery_records_off(worker, fake, configure):
    configure(DELIVERY_RECORDS=False)
    fake.script = ["http500", "ok"]
    catcher = CodeCatcher()
    send(catcher)
    assert wait_for(lambda: len(fake.requests) == 2)
    assert fake.requests[1].json["datas"][0] == catcher.codes[0]
    assert not SmsDelivery.objects.exists()


def test_transient_errors_stop_after_max_retries(worker, fake, configure):
    configure(CELERY={"MAX_RETRIES": 2, "RETRY_BACKOFF": 0.05, "RETRY_BACKOFF_MAX": 0.1})
    fake.reply("http500")
    send()
    record = wait_final()
    assert record.status == SmsDelivery.Status.FAILED
    assert (record.error_code, record.transient) == ("500", True)
    assert record.attempts == 3
    time.sleep(0.5)  # several backoffs: no fourth try comes
    assert len(fake.requests) == 3


def test_no_retry_after_the_code_expired(worker, fake, configure):
    configure(
        CODE_TTL=2, CELERY={"MAX_RETRIES": 50, "RETRY_BACKOFF": 0.4, "RETRY_BACKOFF_MAX": 0.4}
    )
    fake.reply("http500")
    started = time.time()
    send()
    record = wait_final()
    assert record.status == SmsDelivery.Status.FAILED
    # Which of two correct endings closes the record depends on worker timing:
    # the task gives up with the provider's error, or its last retry, queued
    # just inside the expiry, is taken after it and discarded as expired.
    assert record.error_code in ("500", "expired")
    tries = len(fake.requests)
    assert 2 <= tries <= 11  # 0.2 to 0.4 s apart within 2 s
    assert time.time() - started < 4  # closed right after the last try before expiry
    time.sleep(0.6)
    assert len(fake.requests) == tries


def test_permanent_failure_is_not_retried(worker, fake):
    fake.reply("error", code="160032")
    send()
    record = wait_final()
    assert record.status == SmsDelivery.Status.FAILED
    assert (record.error_code, record.transient) == ("160032", False)
    assert record.attempts == 1
    time.sleep(1.2)  # longer than RETRY_BACKOFF_MAX: a retry would have come
    assert len(fake.requests) == 1


def test_task_expired_before_a_worker_took_it(configure, broker, fake):
    configure(CODE_TTL=1)
    send()
    time.sleep(1.2)
    with start_worker(celery_app.app, pool="solo", perform_ping_check=False, queues=[QUEUE]):
        record = wait_final()
    assert record.status == SmsDelivery.Status.FAILED
    assert record.error_code == "expired"
    assert record.attempts == 0
    assert fake.requests == []


def test_enqueued_only_when_the_transaction_commits(configure, broker):
    with transaction.atomic():
        send()
        assert broker.llen(QUEUE) == 0
        assert SmsDelivery.objects.get().status == SmsDelivery.Status.QUEUED
    assert broker.llen(QUEUE) == 1


def _dead_broker_url() -> str:
    # A port that was free a moment ago: connecting to it is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_broker_down_answers_503_and_gives_back_the_limits(configure, broker, fake, monkeypatch):
    # Celery lets CELERY_BROKER_URL override every app's broker_url.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    configure(SEND_LIMITS={"PHONE_PER_HOUR": 1, "PHONE_PER_DAY": 1, "IP_PER_HOUR": 1})
    dead = Celery("dead_broker", broker=_dead_broker_url(), set_as_current=False)
    dead.conf.broker_connection_retry_on_startup = True
    client = Client()
    with _using(dead):
        response = client.post(
            URL, {"phone": PHONE, "purpose": "register", **solved_captcha(client)}
        )
    assert response.status_code == 503
    assert response.json()["ok"] is False
    record = SmsDelivery.objects.get()
    assert record.status == SmsDelivery.Status.FAILED
    assert record.error_code == "broker_unavailable"
    assert not [k for k in caches["default"].keys("*") if ":handoff:" in k]

    # Cooldown and all three quotas (1 each) were given back: the same
    # number, from the same client, may send at once when the broker is back.
    response = client.post(URL, {"phone": PHONE, "purpose": "register", **solved_captcha(client)})
    assert response.status_code == 200, response.content
    assert broker.llen(QUEUE) == 1
    assert fake.requests == []


def _worker_process(name: str, fake: FakeRonglian, settings, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.celery_worker_settings",
        "SMSVERIFY_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "SMSVERIFY_TEST_SMS_BACKEND": settings.SMS_BACKEND,
        "SMSVERIFY_TEST_SMSVERIFY": json.dumps(settings.SMSVERIFY),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": celery_app.BROKER_URL,
        # A dead worker's message comes back after 1 s instead of an hour.
        "SMSVERIFY_TEST_VISIBILITY": "1",
        "CELERY_SKIP_CHECKS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.celery_app",
        "worker",
        "--pool=solo",
        "-Q",
        QUEUE,
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_worker_killed_mid_call_then_redelivered_sends_one_sms(
    configure, broker, fake, settings, tmp_path
):
    fake.reply("slow", delay=30)
    send()
    first = _worker_process("first", fake, settings, tmp_path / "first.log")
    try:
        called = wait_for(lambda: len(fake.requests) == 1, timeout=30)
        assert called, (tmp_path / "first.log").read_text()
        # SIGKILL while the provider call is in flight: no ack, no cleanup.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
    finally:
        _stop(first)
    assert SmsDelivery.objects.get().status == SmsDelivery.Status.QUEUED
    assert broker.hlen("unacked") == 1  # the message is still the broker's

    # Should the SMS be sent again, the fake would accept it at once.
    fake.reply("ok")
    second = _worker_process("second", fake, settings, tmp_path / "second.log")
    try:
        record = wait_final(timeout=30)
    finally:
        _stop(second)
    assert len(fake.requests) == 1
    log = (tmp_path / "second.log").read_text()
    assert "already claimed" in log, log  # the second worker did get the message
    assert record.status == SmsDelivery.Status.FAILED
    assert record.error_code == "interrupted"
    assert record.attempts == 1
    assert broker.hlen("unacked") == 0
    assert broker.llen(QUEUE) == 0

"""The routing backend: routes by region, failover, circuit breaker, provider rate.

Provider ``a`` is the real Ronglian backend talking to the fake Ronglian
server, provider ``b`` the real Tencent Cloud backend talking to the fake
Tencent server (``tests/fake_providers.py``). "Sent" is counted by what each
fake received. Durations are printed (``pytest -s``) so the figures can be
quoted; assertions count requests, never time.
"""

from __future__ import annotations

import socket
import time
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

import django_smsverify
from django_smsverify import verification
from django_smsverify.backends import routing
from django_smsverify.exceptions import RateLimited, SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage
from django_smsverify.models import SmsDelivery
from tests import fake_providers
from tests import test_celery_delivery as celery_tests
from tests.backend_contract import FailingBackendContract
from tests.celery_app import QUEUE
from tests.fake_providers import (
    RONGLIAN_ACCOUNT_SID,
    RONGLIAN_APP_ID,
    RONGLIAN_AUTH_TOKEN,
    TENCENT_SDK_APP_ID,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
)
from tests.test_celery_delivery import _stop, _worker_process
from tests.test_celery_delivery import wait_for as _wait_for

ronglian_server = fake_providers.ronglian_server
tencent_server = fake_providers.tencent_server
broker = celery_tests.broker  # an empty Redis broker database

ROUTING = "django_smsverify.backends.routing.SmsBackend"
RONGLIAN = "django_smsverify.backends.ronglian.SmsBackend"
TENCENT = "django_smsverify.backends.tencent.SmsBackend"
LOCMEM = "django_smsverify.backends.locmem.SmsBackend"
FAILING = "tests.failing_backend.SmsBackend"

CN = "+8613800138000"
GB = "+447400123456"
US = "+12015550123"

#: Ronglian's read timeout in these tests: "slow" answers come after it.
READ_TIMEOUT = 0.5


def closed_port_url() -> str:
    """A URL nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def smsverify_settings(a_url: str, b_host: str, **routing_options: Any) -> dict[str, Any]:
    return {
        "CAPTCHA": False,
        "ALLOWED_REGIONS": ["CN", "GB", "US"],
        "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": None, "IP_PER_HOUR": None},
        "RESEND_COOLDOWN": 1,
        "PROVIDERS": {
            "a": {"BACKEND": RONGLIAN, **routing_options.pop("A", {})},
            "b": {"BACKEND": TENCENT, **routing_options.pop("B", {})},
        },
        "ROUTING": {
            "ROUTES": {"CN": ["a", "b"], "+44": ["b"], "default": ["a"]},
            **routing_options,
        },
        "RONGLIAN": {
            "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
            "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
            "APP_ID": RONGLIAN_APP_ID,
            "TEMPLATE_ID": "1",
            "BASE_URL": a_url,
            "TIMEOUT": [1, READ_TIMEOUT],
        },
        "TENCENT": {
            "SECRET_ID": TENCENT_SECRET_ID,
            "SECRET_KEY": TENCENT_SECRET_KEY,
            "SDK_APP_ID": TENCENT_SDK_APP_ID,
            "SIGN_NAME": "测试签名",
            "TEMPLATE_ID": "2",
            "ENDPOINT": b_host,
            "SCHEME": "http",
            "TIMEOUT": 2,
        },
    }


class Setup:
    """The two fakes and a way to change the settings of one test."""

    def __init__(self, settings: Any, a: Any, b: Any) -> None:
        self.settings, self.a, self.b = settings, a, b
        self.a_url = a.url
        self.configure()

    def configure(self, **routing_options: Any) -> None:
        self.settings.SMS_BACKEND = ROUTING
        self.settings.SMSVERIFY = smsverify_settings(self.a_url, self.b.host, **routing_options)

    def a_down(self) -> None:
        self.a_url = closed_port_url()
        self.settings.SMSVERIFY["RONGLIAN"]["BASE_URL"] = self.a_url

    def counts(self) -> tuple[int, int]:
        return len(self.a.requests), len(self.b.requests)


@pytest.fixture
def setup(settings, ronglian_server, tencent_server, store_cache) -> Setup:
    return Setup(settings, ronglian_server, tencent_server)


_numbers = iter(range(10**6))


def send(phone: str | None = None) -> tuple[verification.SendResult, float]:
    """Send a code (to a fresh number unless ``phone`` is given, so no
    cooldown is in the way) and return the result and the time it took."""
    # Each in a block of its own: the pumping guard refuses bursts within one.
    n = next(_numbers)
    phone = phone or f"+86138{n % 1000:03d}{n % 100_000:05d}"
    started = time.monotonic()
    result = verification.send_code(phone, "register", ip="203.0.113.9")
    return result, time.monotonic() - started


def record() -> SmsDelivery:
    return SmsDelivery.objects.order_by("-pk").first()


# Routing ---------------------------------------------------------------------


@pytest.mark.django_db
def test_routes_by_region_then_calling_code_then_default(setup):
    send(CN)
    assert setup.counts() == (1, 0)
    assert (record().provider, record().providers_tried) == ("ronglian", "a: sent")
    send(GB)  # "+44" route
    assert setup.counts() == (1, 1)
    assert setup.b.requests[0].json["PhoneNumberSet"] == [GB]
    assert (record().provider, record().providers_tried) == ("tencent", "b: sent")
    send(US)  # no "US" or "+1" route: default
    assert setup.counts() == (2, 1)
    assert setup.a.requests[1].json["to"] == "0012015550123"
    assert all(r.verified for r in setup.a.requests + setup.b.requests)


def test_route_for_prefers_region_over_calling_code():
    routes = {"US": ["x"], "+1": ["y"], "default": ["z"]}
    assert routing.route_for(US, routes) == ["x"]
    assert routing.route_for("+14165550123", routes) == ["y"]  # Canada
    assert routing.route_for(CN, routes) == ["z"]
    assert routing.route_for(CN, {"GB": ["x"]}) == []


# Failover: the issue's three cases ------------------------------------------


@pytest.mark.django_db
def test_a_refusing_connections_fails_over_to_b(setup):
    setup.a_down()
    result, took = send()
    print(f"\nfailover, A refuses connections: send took {took * 1000:.0f} ms")
    assert not result.uncertain
    assert setup.counts() == (0, 1)  # nothing reached A; B sent the one SMS
    assert setup.b.requests[0].verified
    saved = record()
    assert saved.status == SmsDelivery.Status.SENT
    assert saved.provider == "tencent"
    assert saved.providers_tried == "a: transient, b: sent"


@pytest.mark.django_db
def test_a_slower_than_its_timeout_fails_over_to_b(setup):
    setup.a.reply("slow", delay=3)
    result, took = send()
    print(f"\nfailover, A slow (read timeout {READ_TIMEOUT} s): send took {took * 1000:.0f} ms")
    assert not result.uncertain  # B confirmed it
    # A got the request but never answered in time: it may still deliver
    # (the record says "uncertain"); B is the one that confirmed the SMS.
    assert setup.counts() == (1, 1)
    saved = record()
    assert (saved.status, saved.provider) == (SmsDelivery.Status.SENT, "tencent")
    assert saved.providers_tried == "a: uncertain, b: sent"
    assert took >= READ_TIMEOUT


@pytest.mark.django_db
def test_a_permanent_error_does_not_fail_over(setup):
    setup.a.reply("error", code="160042")  # bad number format
    with pytest.raises(SmsSendError) as excinfo:
        send(CN)
    assert excinfo.value.provider_code == "160042"
    assert not excinfo.value.transient
    assert setup.counts() == (1, 0)  # B never asked
    saved = record()
    assert saved.status == SmsDelivery.Status.FAILED
    assert (saved.provider, saved.providers_tried, saved.error_code) == (
        "",
        "a: permanent",
        "160042",
    )
    # The failed send gave back the cooldown: the user may ask again at once.
    setup.a.reply("ok")
    send(CN)
    assert setup.counts() == (2, 0)


@pytest.mark.django_db
def test_provider_rate_limit_keeps_the_cooldown_and_does_not_fail_over(setup):
    setup.a.reply("error", code="160038")
    with pytest.raises(RateLimited) as excinfo:
        send(CN)
    assert excinfo.value.scope == "provider"
    assert setup.counts() == (1, 0)
    assert record().providers_tried == "a: rate_limited"
    with pytest.raises(RateLimited) as excinfo:
        send(CN)  # the cooldown stayed: no provider is asked
    assert excinfo.value.scope == "cooldown"
    assert setup.counts() == (1, 0)


@pytest.mark.django_db
def test_every_provider_failing_is_one_transient_error(setup):
    setup.a_down()
    setup.b.reply("error", code="InternalError.Timeout")
    with pytest.raises(SmsSendError) as excinfo:
        send()
    assert excinfo.value.transient and not excinfo.value.maybe_sent
    assert excinfo.value.attempts == [("a", "transient"), ("b", "transient")]
    assert setup.counts() == (0, 1)
    assert record().providers_tried == "a: transient, b: transient"


@pytest.mark.django_db
def test_unknown_outcome_then_failure_keeps_the_code(setup):
    """A may still deliver, so the code stays valid and the user is told so."""
    setup.a.reply("slow", delay=3)
    setup.b.reply("error", code="InternalError.Timeout")
    result, _took = send()
    assert result.uncertain
    assert setup.counts() == (1, 1)
    assert record().providers_tried == "a: uncertain, b: transient"


def test_a_provider_is_never_asked_twice(settings, locmem_cache):
    settings.SMS_BACKEND = ROUTING
    settings.SMSVERIFY = {
        "PROVIDERS": {"f": {"BACKEND": FAILING}},
        "ROUTING": {"ROUTES": {"default": ["f", "f", "f"]}},
    }
    from tests.failing_backend import SmsBackend as Failing

    Failing.calls = 0
    Failing.error_factory = lambda: SmsSendError("down", transient=True)
    try:
        with pytest.raises(SmsSendError):
            django_smsverify.send_sms(CN, "x")
    finally:
        Failing.error_factory = None
    assert Failing.calls == 1


# Circuit breaker -------------------------------------------------------------


@pytest.mark.django_db
def test_circuit_opens_after_n_failures_and_closes_after_a_trial(setup):
    failures, cool_off = 2, 2
    setup.configure(CIRCUIT_BREAKER={"FAILURES": failures, "WINDOW": 60, "COOL_OFF": cool_off})
    setup.a.reply("slow", delay=3)
    took = []
    for _ in range(6):
        took.append(send()[1])
    print(
        f"\ncircuit, A slow, FAILURES={failures}: send durations "
        + ", ".join(f"{t * 1000:.0f}" for t in took)
        + " ms"
    )
    # Two timeouts opened the circuit; the next four went straight to B.
    assert setup.counts() == (failures, 6)
    assert record().providers_tried == "a: skipped, b: sent"

    # After the cool-off one trial goes to A. A still slow: the circuit opens again.
    time.sleep(cool_off + 0.1)
    trial_took = send()[1]
    assert setup.counts() == (failures + 1, 7)
    send()
    assert setup.counts() == (failures + 1, 8)

    # A is back: the next trial succeeds and closes the circuit.
    setup.a.reply("ok")
    time.sleep(cool_off + 0.1)
    send()
    send()
    after = send()[1]
    print(
        f"circuit: failed trial took {trial_took * 1000:.0f} ms; "
        f"after a good trial, a send through A took {after * 1000:.0f} ms"
    )
    assert setup.counts() == (failures + 4, 8)
    assert record().providers_tried == "a: sent"


@pytest.mark.django_db
def test_every_provider_skipped_fails_fast_with_a_transient_error(setup):
    setup.configure(
        CIRCUIT_BREAKER={"FAILURES": 1, "WINDOW": 60, "COOL_OFF": 60},
        ROUTES={"default": ["a"]},
    )
    setup.a_down()
    with pytest.raises(SmsSendError):
        send()
    with pytest.raises(SmsSendError) as excinfo:
        send()
    assert excinfo.value.provider_code == "no_provider"
    assert excinfo.value.transient
    assert excinfo.value.attempts == [("a", "skipped")]


@pytest.mark.django_db
def test_permanent_errors_do_not_open_the_circuit(setup):
    setup.configure(CIRCUIT_BREAKER={"FAILURES": 1, "WINDOW": 60, "COOL_OFF": 60})
    setup.a.reply("error", code="160042")
    for _ in range(3):
        with pytest.raises(SmsSendError):
            send()
        time.sleep(1)  # RESEND_COOLDOWN
    assert setup.counts() == (3, 0)


# Provider rate ---------------------------------------------------------------


def _start_of_a_second() -> None:
    time.sleep(1 - time.time() % 1 + 0.02)


@pytest.mark.django_db
def test_a_burst_over_the_rate_goes_to_the_next_provider(setup):
    setup.configure(A={"RATE_PER_SECOND": 2}, RATE_WAIT=0)
    _start_of_a_second()
    for phone in ("+8613800138001", "+8613800138002", "+8613800138003"):
        send(phone)
    assert setup.counts() == (2, 1)
    assert record().providers_tried == "a: throttled, b: sent"


@pytest.mark.django_db
def test_a_burst_waits_for_a_slot_within_rate_wait(setup):
    setup.configure(A={"RATE_PER_SECOND": 1}, RATE_WAIT=1.5)
    _start_of_a_second()
    took = [send(phone)[1] for phone in ("+8613800138001", "+8613800138002")]
    print(f"\nrate 1/s: two sends took {took[0] * 1000:.0f} and {took[1] * 1000:.0f} ms")
    assert setup.counts() == (2, 0)
    assert took[1] > 0.5  # waited for the next second rather than being refused


# Contract, sendtest ----------------------------------------------------------


@pytest.fixture
def locmem_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import caches

    caches["default"].clear()


class TestContract(FailingBackendContract):
    @pytest.fixture
    def backend_path(self):
        return ROUTING

    @pytest.fixture
    def make_backend(self, settings, locmem_cache):
        settings.SMSVERIFY = {
            "PROVIDERS": {"mem": {"BACKEND": LOCMEM}},
            "ROUTING": {"ROUTES": {"default": ["mem"]}},
        }
        return lambda fail_silently=False: routing.SmsBackend(fail_silently=fail_silently)

    @pytest.fixture
    def make_failing_backend(self, settings, locmem_cache):
        settings.SMSVERIFY = {
            "PROVIDERS": {"bad": {"BACKEND": FAILING}, "mem": {"BACKEND": LOCMEM}},
            "ROUTING": {"ROUTES": {"default": ["bad", "mem"]}},
        }
        return lambda fail_silently=False: routing.SmsBackend(fail_silently=fail_silently)

    def test_failure_status_names_the_tries(self, make_failing_backend):
        message = SmsMessage(to=[CN], body="x")
        assert make_failing_backend(fail_silently=True).send_messages([message]) == 0
        assert message.status.attempts == [("bad", "permanent")]
        assert django_smsverify.outbox == []  # no failover after a permanent error


def sendtest(*args: str) -> str:
    out = StringIO()
    call_command("smsverify_sendtest", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sendtest_says_which_provider_sent_and_which_were_tried(setup):
    setup.a_down()
    out = sendtest(CN)
    assert "provider: tencent" in out
    assert "Providers tried: a: transient, b: sent" in out


def test_sendtest_failure_lists_the_tries(setup):
    setup.a.reply("error", code="160042")
    out = StringIO()
    with pytest.raises(CommandError, match="160042"):
        call_command("smsverify_sendtest", CN, stdout=out, stderr=StringIO())
    assert "Providers tried: a: permanent" in out.getvalue()


# Settings checks -------------------------------------------------------------


GOOD = {
    "PROVIDERS": {"a": {"BACKEND": LOCMEM, "RATE_PER_SECOND": 5}},
    "ROUTING": {"ROUTES": {"CN": ["a"], "default": ["a"]}},
}


@pytest.mark.parametrize(
    ("smsverify", "expected"),
    [
        (GOOD, set()),
        ({**GOOD, "ROUTING": {"ROUTES": {"cn": ["a"], "default": ["a"]}}}, {"smsverify.E601"}),
        ({**GOOD, "ROUTING": {"ROUTES": {"default": "a"}}}, {"smsverify.E601"}),
        ({**GOOD, "ROUTING": {"ROUTES": {"default": ["a"]}, "ROUTE": {}}}, {"smsverify.E601"}),
        (
            {**GOOD, "ROUTING": {"ROUTES": {"default": ["a"]}, "CIRCUIT_BREAKER": {"FAILURES": 0}}},
            {"smsverify.E601"},
        ),
        ({**GOOD, "PROVIDERS": {"a": {"RATE_PER_SECOND": 5}}}, {"smsverify.E602"}),
        ({**GOOD, "PROVIDERS": {"a": {"BACKEND": LOCMEM, "RATE": 5}}}, {"smsverify.E602"}),
        ({**GOOD, "PROVIDERS": {"a": {"BACKEND": "nowhere.SmsBackend"}}}, {"smsverify.E603"}),
        ({**GOOD, "ROUTING": {"ROUTES": {"default": ["a", "zz"]}}}, {"smsverify.E604"}),
        (
            {**GOOD, "PROVIDERS": {"a": {"BACKEND": LOCMEM}, "self": {"BACKEND": ROUTING}}},
            {"smsverify.E605"},
        ),
        ({"PROVIDERS": GOOD["PROVIDERS"]}, {"smsverify.E606"}),
        ({**GOOD, "ROUTING": {"ROUTES": {"CN": ["a"]}}}, set()),  # only CN allowed
        (
            {**GOOD, "ALLOWED_REGIONS": "__all__", "ROUTING": {"ROUTES": {"CN": ["a"]}}},
            {"smsverify.W601"},
        ),
        (
            {**GOOD, "ALLOWED_REGIONS": ["CN", "HK"], "ROUTING": {"ROUTES": {"CN": ["a"]}}},
            {"smsverify.W601"},
        ),
        ({**GOOD, "ALLOWED_REGIONS": ["CN"], "ROUTING": {"ROUTES": {"+86": ["a"]}}}, set()),
    ],
)
def test_routing_checks(settings, smsverify, expected):
    settings.SMS_BACKEND = ROUTING
    settings.SMSVERIFY = smsverify
    messages = run_checks()
    found = {m.id for m in messages if m.id.startswith(("smsverify.E6", "smsverify.W6"))}
    assert found == expected, [str(m) for m in messages]


def test_provider_blocks_are_checked_when_routed(settings):
    """A provider reached only through a route gets its settings block checked."""
    settings.SMS_BACKEND = ROUTING
    settings.SMSVERIFY = {
        "PROVIDERS": {"a": {"BACKEND": RONGLIAN}},
        "ROUTING": {"ROUTES": {"default": ["a"]}},
        "RONGLIAN": {"AUTH_TOKEN": "x", "APP_ID": "y", "TEMPLATE_ID": "1"},
    }
    assert "smsverify.E101" in {m.id for m in run_checks()}  # ACCOUNT_SID missing


def test_unknown_provider_at_send_time_is_a_configuration_error(settings, locmem_cache):
    settings.SMS_BACKEND = ROUTING
    settings.SMSVERIFY = {"PROVIDERS": {}, "ROUTING": {"ROUTES": {"default": ["nope"]}}}
    with pytest.raises(SmsConfigurationError):
        django_smsverify.send_sms(CN, "x")


# Celery delivery, two real workers --------------------------------------------


@pytest.fixture
def celery_setup(settings, redis_db, broker, ronglian_server, tencent_server):
    from tests.conftest import CACHE_CONFIGS

    settings.CACHES = {"default": CACHE_CONFIGS["django-redis"]}
    setup = Setup(settings, ronglian_server, tencent_server)
    yield setup
    from django.core.cache import caches

    caches["default"].clear()


def _celery_settings(setup: Setup, case: str) -> None:
    setup.configure(CIRCUIT_BREAKER={"FAILURES": 2, "WINDOW": 60, "COOL_OFF": 60})
    setup.settings.SMSVERIFY.update(
        DELIVERY="celery",
        CELERY={"QUEUE": QUEUE, "MAX_RETRIES": 2, "RETRY_BACKOFF": 0.2, "RETRY_BACKOFF_MAX": 0.5},
    )
    if case == "refused":
        setup.a_down()
    elif case == "slow":
        setup.a.reply("slow", delay=3)
    else:
        setup.a.reply("error", code="160042")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", ["refused", "slow", "permanent"])
def test_celery_two_workers_fail_over_once_per_send(celery_setup, case, settings, tmp_path):
    setup = celery_setup
    _celery_settings(setup, case)
    sends = 6
    for _ in range(sends):
        send()
    assert SmsDelivery.objects.filter(status=SmsDelivery.Status.QUEUED).count() == sends
    started = time.monotonic()
    workers = [
        _worker_process(name, setup.a, settings, tmp_path / f"{name}.log")
        for name in ("first", "second")
    ]
    try:
        done = _wait_for(
            lambda: not SmsDelivery.objects.filter(status=SmsDelivery.Status.QUEUED).exists(),
            timeout=60,
        )
        took = time.monotonic() - started
    finally:
        for worker in workers:
            _stop(worker)
    logs = "\n".join((tmp_path / f"{n}.log").read_text() for n in ("first", "second"))
    assert done, logs
    records = list(SmsDelivery.objects.order_by("pk"))
    a_count, b_count = setup.counts()
    print(
        f"\ncelery, 2 workers, A {case}: {sends} sends done in {took:.1f} s "
        f"(incl. worker start); A received {a_count}, B received {b_count}"
    )
    # Both workers did take tasks.
    assert all("deliver_sms" in (tmp_path / f"{n}.log").read_text() for n in ("first", "second"))
    if case == "permanent":
        assert (a_count, b_count) == (sends, 0)
        assert {(r.status, r.providers_tried, r.attempts) for r in records} == {
            ("failed", "a: permanent", 1)
        }
        return
    # One SMS per send, each from B, to its own number.
    assert b_count == sends
    assert len({tuple(r.json["PhoneNumberSet"]) for r in setup.b.requests}) == sends
    assert {(r.status, r.provider, r.attempts) for r in records} == {("sent", "tencent", 1)}
    if case == "refused":
        assert a_count == 0
        assert {r.providers_tried for r in records} <= {
            "a: transient, b: sent",
            "a: skipped, b: sent",
        }
    else:
        # The circuit, shared in Redis, opened after 2 timeouts; a call the
        # other worker had already started when it opened may add one.
        assert 2 <= a_count <= 3, a_count
        tried = [r.providers_tried for r in records]
        assert tried.count("a: skipped, b: sent") >= sends - 3, tried
        assert set(tried) <= {"a: uncertain, b: sent", "a: skipped, b: sent"}

"""The store on a real Redis Cluster: six local redis-servers, three masters
and three replicas (tests/cluster_topology.py), through both cluster caches
the app ships (django_smsverify.cluster).

The store contract, the races, the pumping guard and the captcha are the
suites that run on one Redis, run again here (their tests, unchanged); then
what only a cluster has: the steps that span slots (the per-IP quota,
password login's two counters) and their compensation, startup nodes that
are down, and a master killed mid-run.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.db import connections
from django.test import Client

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import RateLimited, ServiceUnavailable
from django_smsverify.models import PhoneNumber
from django_smsverify.store import get_store
from tests import test_captcha, test_celery_delivery, test_guard, test_races, test_verification
from tests.cluster_topology import LocalCluster, free_cluster_ports, node_command
from tests.conftest import REQUIRE_REDIS
from tests.helpers import solved_captcha
from tests.sentinel_topology import documented_settings

pytestmark = pytest.mark.heavy

# test_celery_delivery's fixtures, for TestCeleryHandOff, and test_guard's
# (TestStoreContract overrides ``clock`` with test_verification's).
for _fixture in ("broker", "fake", "worker"):
    globals()[_fixture] = getattr(test_celery_delivery, _fixture)
for _fixture in ("clock", "refusals"):
    globals()[_fixture] = getattr(test_guard, _fixture)

PHONE = "+8613800138000"
IP = "203.0.113.9"
PASSWORD = "Tr1cky-horse-battery"


@pytest.fixture(scope="session")
def cluster():
    """The run's own Redis Cluster, started once and removed at the end."""
    try:
        started = LocalCluster.start()
    except RuntimeError as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"SMSVERIFY_REQUIRE_REDIS=1 but no local Redis Cluster: {exc}")
        pytest.skip(f"no local Redis Cluster: {exc}")
    yield started
    started.stop()


#: The titles of docs/deployment.rst's settings blocks, by cache.
DOCUMENTED = {
    "django-redis": "Redis Cluster, django-redis",
    "redis": "Redis Cluster, Django's RedisCache",
}


def cache_config(kind: str, urls: list[str]) -> dict[str, Any]:
    """The settings docs/deployment.rst gives, with ``urls`` for its startup nodes."""
    if kind == "django-valkey":
        # django-valkey's own cluster cache (valkey-py's ValkeyCluster, one
        # startup node), on the same redis-server cluster.
        return {
            "BACKEND": "django_valkey.cluster_cache.cache.ClusterValkeyCache",
            "LOCATION": urls[0],
            "OPTIONS": {"BASE_CLIENT_KWARGS": {"max_connections": 500}},
        }
    config = documented_settings(DOCUMENTED[kind], {})["CACHES"]["default"]
    assert config["LOCATION"] == [f"redis://redis-{i}.internal:6379" for i in (1, 2, 3)]
    config["LOCATION"] = list(urls)
    # Per node; the race tests open up to 200 connections at once.
    if kind == "django-redis":
        config["OPTIONS"]["CONNECTION_POOL_KWARGS"] = {"max_connections": 500}
    else:
        config["OPTIONS"]["max_connections"] = 500
    return config


@pytest.fixture(params=["django-redis", "redis", "django-valkey"])
def store_cache(request, settings, cluster):
    """Overrides conftest's: the reused suites run on the cluster, once per cache."""
    settings.CACHES = {"default": cache_config(request.param, cluster.urls[:3])}
    cluster.flush()
    yield request.param
    cluster.flush()


def _reused(module: Any, *names: str) -> dict[str, Any]:
    """Test functions of ``module`` (all, or ``names``), as static methods of a
    test class here, so that they run on this file's fixtures."""
    wanted = names or [n for n in vars(module) if n.startswith("test_")]
    return {name: staticmethod(getattr(module, name)) for name in wanted}


class TestStoreContract:
    pytestmark = pytest.mark.usefixtures("store_cache")
    locals().update(_reused(test_verification))

    @pytest.fixture
    def clock(self):  # test_verification's
        with time_machine.travel(test_verification.START, tick=False) as traveller:
            yield traveller


class TestRaces:
    pytestmark = pytest.mark.usefixtures("store_cache")
    locals().update(_reused(test_races))


class TestPumpingGuard:
    pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]
    locals().update(_reused(test_guard))


class TestCeleryHandOff:
    """The hand-off to a Celery worker (tests/test_celery_delivery.py) through
    the cluster cache (django-redis, as documented); the broker is the run's
    own standalone Redis."""

    pytestmark = test_celery_delivery.pytestmark
    locals().update(
        _reused(
            test_celery_delivery,
            "test_happy_path_over_http",
            "test_provider_failing_twice_then_succeeding",
        )
    )

    @pytest.fixture
    def configure(self, settings, cluster, broker, fake):
        settings.CACHES = {"default": cache_config("django-redis", cluster.urls[:3])}
        settings.SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"
        settings.SMSVERIFY = test_celery_delivery.smsverify_settings(fake)
        cluster.flush()
        yield
        cluster.flush()


class TestCaptcha:
    locals().update(
        _reused(
            test_captcha,
            "test_right_answer_passes_once",
            "test_wrong_answer_burns_the_challenge",
            "test_concurrent_submissions_of_one_solved_challenge_accept_exactly_one",
        )
    )


# Our own two clients. django-valkey's cluster cache answers {} to a get_many
# across slots (its own limitation; the app never calls get_many or set_many).
@pytest.mark.parametrize("store_cache", ["django-redis", "redis"], indirect=True)
@pytest.mark.django_db  # before the failover tests: FLUSHDB goes to who the client thinks is master
def test_the_cache_api_works_across_slots(store_cache):
    # The app's hand-off and circuit breaker use it; so may the site.
    from django.core.cache import cache

    data = {f"key-{i}": i for i in range(20)}  # in many slots
    cache.set_many(data, 60)
    assert cache.get_many([*data, "missing"]) == data
    assert cache.add("key-0", "other") is False
    assert cache.incr("key-1", 10) == 11
    cache.delete_many(list(data)[:10])
    assert cache.get_many(list(data)) == {k: v for k, v in data.items() if v >= 10}
    cache.clear()
    assert cache.get("key-15") is None


# Steps across slots ------------------------------------------------------------------


def slots_in_use(client: Any) -> set[int]:
    """The slots of the keys of numbers and IPs (not the {ops} counters)."""
    from redis.crc import key_slot

    return {key_slot(key) for key in client.scan_iter(count=1000) if b"{ops}" not in key}


def raw_client() -> Any:
    return get_store()._client_getter()


@pytest.mark.django_db
def test_a_refused_send_gives_the_ip_count_back(store_cache, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 2}}
    verification.send_code(PHONE, "register", ip=IP)
    # The number's keys and the IP's are in two slots: the send ran in two steps.
    assert len(slots_in_use(raw_client())) == 2
    for _ in range(3):
        with pytest.raises(RateLimited) as refused:
            verification.send_code(PHONE, "register", ip=IP)
        assert refused.value.scope == "cooldown"
    # The IP counted before each refusal and was given it back: one send left.
    verification.send_code("+8613900139000", "register", ip=IP)
    with pytest.raises(RateLimited) as refused:
        verification.send_code("+8613700137000", "register", ip=IP)
    assert refused.value.scope == "ip_hour"
    assert len(django_smsverify.outbox) == 2


@pytest.mark.django_db
def test_a_failed_send_gives_back_the_ip_quota_too(store_cache, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 1}}
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    with pytest.raises(Exception, match="fail"):
        verification.send_code(PHONE, "register", ip=IP)
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    verification.send_code("+8613900139000", "register", ip=IP)
    assert len(django_smsverify.outbox) == 1


@pytest.mark.django_db
def test_scripts_are_loaded_again_on_every_node(store_cache):
    verification.send_code(PHONE, "register", ip=IP)
    code = django_smsverify.outbox[-1].params[0]
    # As after a failover to a replica, or a restart: no node knows a script.
    raw_client().script_flush()
    assert verification.check_code(PHONE, code, "register") == PHONE
    verification.send_code("+8613900139000", "register", ip=IP)


def run_at_once(n: int, fn) -> list[Any]:  # type: ignore[no-untyped-def]
    return test_races.run_at_once(n, fn)


@pytest.mark.django_db(transaction=True)
def test_password_login_counts_both_counters_and_gives_back_what_a_refusal_took(
    store_cache, settings
):
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": 5, "IP_PER_HOUR": 8}}
    other = "+8613900139000"
    for number in (PHONE, other):
        user = get_user_model().objects.create_user(username=number, password=PASSWORD)
        PhoneNumber.objects.create(user=user, number=number)

    def guess(phone: str, ip: str):  # type: ignore[no-untyped-def]
        def attempt() -> int:
            response = Client().post(
                "/accounts/phone/login/?method=password",
                {"method": "password", "phone": phone, "password": "wrong"},
                REMOTE_ADDR=ip,
            )
            return response.status_code

        return lambda: Counter(run_at_once(20, attempt))

    # The number's limit: 5 wrong passwords are checked, whatever the concurrency.
    assert guess(PHONE, "198.51.100.1")() == {400: 5, 429: 15}
    # Then the IP's: 3 of its 8 are left.
    assert guess(other, "198.51.100.1")() == {400: 3, 429: 17}
    # The 17 refused by the IP took the other number's count first and gave it
    # back: it holds 3, so from elsewhere exactly 2 more are checked.
    assert guess(other, "198.51.100.2")() == {400: 2, 429: 18}


@pytest.mark.django_db
def test_the_send_endpoint_with_a_captcha(store_cache):
    client = Client()
    captcha = solved_captcha(client)
    data = {"phone": PHONE, "purpose": "register", **captcha}
    first = client.post(
        "/accounts/phone/send-code/",
        json.dumps(data),
        content_type="application/json",
        REMOTE_ADDR=IP,
    )
    assert first.status_code == 200, first.content
    data["phone"] = "+8613900139000"
    replay = client.post(
        "/accounts/phone/send-code/",
        json.dumps(data),
        content_type="application/json",
        REMOTE_ADDR=IP,
    )
    assert replay.status_code == 400
    assert len(django_smsverify.outbox) == 1


def test_the_eviction_check_reads_every_master(store_cache, cluster):
    assert get_store().maxmemory_policy() == "noeviction"
    master = cluster.master_for("smsverify:{ops}:block")
    node_command(master.port, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    try:
        assert get_store().maxmemory_policy() == "allkeys-lru"
        warnings = run_checks(include_deployment_checks=True)
        assert "smsverify.W014" in [w.id for w in warnings]
    finally:
        node_command(master.port, "CONFIG", "SET", "maxmemory-policy", "noeviction")


@pytest.mark.django_db
def test_a_step_across_slots_that_is_not_split_is_503_not_500(store_cache, caplog):
    # No step of the app does this any more; a counter change that ever
    # spanned slots must still fail closed, with the reason in the log.
    changes = [("smsverify:{a}:x", "f", 1), ("smsverify:{b}:x", "f", 1)]
    with pytest.raises(ServiceUnavailable):
        get_store().ops_add(changes, {}, 0)
    assert "same key slot" in caplog.text or "CROSSSLOT" in caplog.text, caplog.text


# Startup nodes -------------------------------------------------------------------------


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_cluster_ports(1)[0]}"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["django-redis", "redis"])
def test_a_dead_first_startup_node_is_skipped(kind, settings, cluster):
    settings.CACHES = {"default": cache_config(kind, [dead_url(), cluster.urls[0]])}
    verification.send_code(PHONE, "login", ip=IP)
    assert verification.check_code(PHONE, django_smsverify.outbox[-1].params[0], "login")
    cluster.flush()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["django-redis", "redis"])
def test_no_reachable_startup_node_is_503_until_one_is_back(kind, settings, cluster, caplog):
    replica = cluster.replicas()[0]
    cluster.kill(replica)
    settings.CACHES = {"default": cache_config(kind, [dead_url(), replica.url])}
    settings.SMSVERIFY = {"CAPTCHA": False}
    client = Client(raise_request_exception=False)
    data = {"phone": PHONE, "purpose": "register"}
    try:
        with pytest.raises(ServiceUnavailable):
            verification.send_code(PHONE, "register", ip=IP)
        response = client.post("/accounts/phone/send-code/", data, REMOTE_ADDR=IP)
        assert response.status_code == 503
        # The log says what went wrong, not only the error's class.
        assert any(
            r.getMessage().startswith("verification store unavailable: ")
            and "Redis Cluster cannot be connected" in r.getMessage()
            for r in caplog.records
        ), caplog.text
        assert django_smsverify.outbox == []
    finally:
        cluster.restart(replica)
        cluster.wait_healthy()
    # Same process, same settings: the node is back, and so is the service.
    response = client.post("/accounts/phone/send-code/", data, REMOTE_ADDR=IP)
    assert response.status_code == 200, response.content
    assert len(django_smsverify.outbox) == 1
    cluster.flush()


# Failover ------------------------------------------------------------------------------

#: How soon after a master dies its replica must be serving (the figures
#: measured here are in docs/deployment.rst).
RECOVERY_LIMIT = 15


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["django-redis", "redis"])
def test_a_master_killed_mid_run_answers_503_only_and_comes_back(kind, settings, cluster):
    settings.CACHES = {"default": cache_config(kind, cluster.urls)}
    # The guard stays on (every send passes its {ops} slot) but refuses nothing.
    settings.SMSVERIFY = {
        "CAPTCHA": False,
        "PUMPING_GUARD": {"PREFIX_BURST": None, "PREFIX_MIN_SENDS": None, "REGION_MIN_SENDS": None},
    }
    cluster.flush()
    # The master of the guard's and counters' slot: while it is gone every send waits or fails.
    slot_key = "smsverify:{ops}:block"
    victim = cluster.master_for(slot_key)
    counter = iter(range(10**6))
    lock = threading.Lock()
    stop = threading.Event()
    # (started, ended, first send or resend, status or exception name)
    seen: list[tuple[float, float, str, Any]] = []

    def worker() -> None:
        client = Client(raise_request_exception=False)
        while not stop.is_set():
            with lock:
                n = next(counter)
            data = {"phone": f"+8613{n % 10}{n:08d}", "purpose": "register"}
            ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            for kind in ("send", "resend"):
                began = time.monotonic()
                try:
                    status: Any = client.post(
                        "/accounts/phone/send-code/", data, REMOTE_ADDR=ip
                    ).status_code
                except Exception as exc:  # reported below
                    status = type(exc).__name__
                with lock:
                    seen.append((began, time.monotonic(), kind, status))
                if status != 200:
                    break
        connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    promoted_at = None
    try:
        time.sleep(1)
        killed_at = time.monotonic()
        cluster.kill(victim)
        deadline = killed_at + RECOVERY_LIMIT + 5
        while time.monotonic() < deadline:
            if promoted_at is None:
                with contextlib.suppress(RuntimeError):
                    if cluster.master_for(slot_key) is not victim:
                        promoted_at = time.monotonic()
            elif time.monotonic() > promoted_at + 2:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        cluster.restart(victim)
        cluster.wait_healthy()

    statuses = Counter((kind, status) for _b, _e, kind, status in seen)
    during = [r for r in seen if r[1] > killed_at and r[0] < (promoted_at or deadline)]
    after = [r for r in seen if r[0] > killed_at and r[3] == 200]
    print(
        f"\nfailover [{kind}]: {len(seen)} requests, {dict(statuses)}; "
        f"replica promoted {(promoted_at or deadline) - killed_at:.2f} s after the kill; "
        f"{len(during)} requests in flight meanwhile, the slowest "
        f"{max((e - b for b, e, _k, _s in during), default=0):.2f} s; first send begun "
        f"after the kill that went through ended {after[0][1] - killed_at if after else -1:.2f} s "
        f"after it"
    )
    assert promoted_at is not None and promoted_at - killed_at < RECOVERY_LIMIT
    # Requests wait for the new master or answer 503, never a 500 nor an
    # exception; a first send answers 200 (or 503), its resend inside the
    # cooldown 429 (or 503).
    assert set(statuses) <= {
        ("send", 200),
        ("send", 503),
        ("resend", 429),
        ("resend", 503),
    }, statuses
    assert after and after[0][1] - killed_at < RECOVERY_LIMIT
    # Nothing sent twice, and an SMS for every send that said so.
    per_number = Counter(to for message in django_smsverify.outbox for to in message.to)
    assert set(per_number.values()) == {1}
    assert len(per_number) == statuses[("send", 200)]
    # Once the replica serves, the service is whole again.
    settled = [r[3] for r in seen if r[0] > promoted_at + 1]
    assert settled and set(settled) <= {200, 429}, Counter(settled)
    cluster.flush()

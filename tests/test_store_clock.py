"""One clock (issue: scale-out). Each app server used to decide expiry and
cooldowns by its own clock: a server 90 s ahead accepted a resend inside the
cooldown. With ``CLOCK = "store"`` (the default) the Redis server's clock
decides; ``"app"`` keeps the old behaviour, which the first test shows.
"""

from __future__ import annotations

import time

import pytest

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import CodeExpired, RateLimited
from tests.helpers import last_code

PHONE = "+8613800138000"

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["django-redis", "redis"])
def redis_store(request, settings, redis_db):
    from tests.conftest import CACHE_CONFIGS

    settings.CACHES = {"default": CACHE_CONFIGS[request.param]}
    return redis_db


@pytest.fixture
def skew(monkeypatch):
    """This app server's clock runs ``seconds`` off (the store's does not)."""
    real = time.time

    def set_skew(seconds: float) -> None:
        monkeypatch.setattr(time, "time", lambda: real() + seconds)

    return set_skew


def test_with_the_app_clock_a_fast_server_resends_inside_the_cooldown(redis_store, settings, skew):
    settings.SMSVERIFY = {"CLOCK": "app"}
    verification.send_code(PHONE, "register")
    skew(90)
    verification.send_code(PHONE, "register")  # the old behaviour: a second SMS
    assert len(django_smsverify.outbox) == 2


def test_with_the_store_clock_a_fast_server_cannot(redis_store, skew):
    verification.send_code(PHONE, "register")
    skew(90)
    with pytest.raises(RateLimited) as refused:
        verification.send_code(PHONE, "register")
    assert refused.value.scope == "cooldown"
    assert 55 <= refused.value.retry_after <= 60
    assert len(django_smsverify.outbox) == 1


def test_a_slow_server_does_not_cut_a_code_short_nor_keep_it_alive(redis_store, settings, skew):
    settings.SMSVERIFY = {"CODE_TTL": 2, "RESEND_COOLDOWN": 0}
    verification.send_code(PHONE, "register")
    code = last_code()
    skew(-600)  # ten minutes slow: by its own clock the code is not even sent yet
    assert verification.check_code(PHONE, code, "register") == PHONE
    verification.send_code(PHONE, "register")
    code = last_code()
    skew(600)  # ten minutes fast: by its own clock the code is long dead
    assert verification.check_code(PHONE, code, "register") == PHONE
    verification.send_code(PHONE, "register")
    code = last_code()
    time.sleep(2.1)  # by the store's clock it has expired now, whatever the server says
    skew(-600)
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "register")


def test_the_generic_store_keeps_the_process_clock(settings, skew):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import caches

    caches["default"].clear()
    verification.send_code(PHONE, "register")
    skew(90)
    verification.send_code(PHONE, "register")
    assert len(django_smsverify.outbox) == 2


@pytest.mark.parametrize("value", ["server", "", None, 1])
def test_e017_clock_must_be_store_or_app(settings, value):
    from django_smsverify.checks import check_clock_and_replicas

    settings.SMSVERIFY = {"CLOCK": value}
    assert [e.id for e in check_clock_and_replicas()] == ["smsverify.E017"]
    settings.SMSVERIFY = {"CLOCK": "app"}
    assert check_clock_and_replicas() == []


@pytest.mark.parametrize(
    "value",
    [1, {"REPLICAS": 0}, {"REPLICAS": 1, "TIMEOUT_MS": 0}, {"REPLICAS": "1"}, {"TIMEOUT": 100}],
)
def test_e018_replica_wait(settings, value):
    from django_smsverify.checks import check_clock_and_replicas

    settings.SMSVERIFY = {"REPLICA_WAIT": value}
    assert [e.id for e in check_clock_and_replicas()] == ["smsverify.E018"]
    settings.SMSVERIFY = {"REPLICA_WAIT": {"REPLICAS": 2, "TIMEOUT_MS": 50}}
    assert check_clock_and_replicas() == []

"""django-valkey gets the atomic store, and valkey-py's errors answer 503.

The cache is the one docs/deployment.rst gives ("Valkey, django-valkey"),
read from the document and pointed at the test run's own redis-server:
Debian 12 has no Valkey server package, and Valkey speaks the same protocol
and runs the same scripts. On it: the store contract
(tests/test_verification.py), the races (tests/test_races.py), password login
limits and the captcha; then what valkey-py raises (a server that is down,
one that does not answer, one out of memory) becomes ServiceUnavailable and
HTTP 503, with the error named in the log. Sentinel through django-valkey is
in tests/test_sentinel.py.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import valkey
from django.core.cache import caches
from django.test import Client

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import CodeMismatch, ServiceUnavailable
from django_smsverify.store import get_store
from django_smsverify.store import redis as redis_store
from django_smsverify.store.redis import RedisStore
from tests import test_captcha, test_password_login_limits, test_races, test_verification
from tests.helpers import last_code, solved_captcha, wrong_code
from tests.sentinel_topology import adopt, documented_settings
from tests.test_memory_pressure import fill_memory, free_memory, start_redis  # noqa: F401

PHONE = "+8613800138000"
TITLE = "Valkey, django-valkey"
DOCUMENTED_SERVER = "valkey.internal:6379/0"


def valkey_caches(url: str) -> dict[str, Any]:
    """The documented ``CACHES``, pointed at the server at ``url`` (a redis:// URL)."""
    parts = urlsplit(url)
    server = f"{parts.hostname}:{parts.port}{parts.path or '/0'}"
    return documented_settings(TITLE, {DOCUMENTED_SERVER: server})["CACHES"]


@pytest.fixture
def store_cache(settings: Any, redis_db: redis.Redis) -> Iterator[str]:
    """Overrides the suite's fixture: the adopted tests run on django-valkey."""
    settings.CACHES = valkey_caches(settings.REDIS_URL)
    caches["default"].clear()
    assert isinstance(get_store(), RedisStore)
    yield "django-valkey"
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
        "test_concurrent_submissions_of_one_solved_challenge_accept_exactly_one",
    ],
)


def test_the_store_runs_its_scripts_through_valkey_py(store_cache: str, redis_db: Any) -> None:
    store = get_store()
    assert isinstance(store, RedisStore)
    assert isinstance(store._client_getter(), valkey.Valkey)
    verification.send_code(PHONE, "register")
    code = last_code()
    # The server forgets its scripts (a restart, a failover): valkey-py's
    # NoScriptError is answered by loading them again, not by a 503.
    redis_db.script_flush()
    with pytest.raises(CodeMismatch):
        verification.check_code(PHONE, wrong_code(code), "register")
    assert redis_db.script_exists(redis_store._check.flagged_sha) == [True]
    assert verification.check_code(PHONE, code, "register") == PHONE
    assert store.maxmemory_policy() == "noeviction"


def send_page(client: Client) -> int:
    data = {"phone": PHONE, "purpose": "register", **solved_captcha(client)}
    return client.post("/accounts/phone/send-code/", data).status_code


@pytest.mark.django_db(transaction=True)
def test_a_server_that_is_down_is_503_and_the_log_names_the_error(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CACHES = valkey_caches("redis://127.0.0.1:1/0")
    with caplog.at_level(logging.ERROR, "django_smsverify.store"):
        with pytest.raises(ServiceUnavailable):
            verification.send_code(PHONE, "register")
        with pytest.raises(ServiceUnavailable):
            verification.check_code(PHONE, "123456", "register")
    assert "ConnectionError" in caplog.text
    assert Client().get("/accounts/phone/captcha/").status_code == 503
    assert django_smsverify.outbox == []


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_a_server_that_does_not_answer_is_503_after_the_timeout(
    settings: Any, silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CACHES = valkey_caches(f"redis://127.0.0.1:{silent_server}/0")
    with (
        caplog.at_level(logging.ERROR, "django_smsverify.store"),
        pytest.raises(ServiceUnavailable),
    ):
        verification.send_code(PHONE, "register")
    assert "TimeoutError" in caplog.text
    assert django_smsverify.outbox == []


@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_a_server_out_of_memory_is_503_and_nothing_passes(
    settings: Any,
    start_redis: Any,  # noqa: F811 - the fixture imported above
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, admin = start_redis("noeviction", "64mb")
    settings.CACHES = valkey_caches(url)
    settings.SMSVERIFY = {"MAX_ATTEMPTS": 5}
    client = Client()
    assert send_page(client) == 200
    code = last_code()

    fill_memory(admin)
    with caplog.at_level(logging.ERROR, "django_smsverify.store"):
        for _ in range(20):
            with pytest.raises(ServiceUnavailable):
                verification.check_code(PHONE, wrong_code(code), "register")
        with pytest.raises(ServiceUnavailable):
            verification.check_code(PHONE, code, "register")
        with pytest.raises(ServiceUnavailable):
            verification.send_code("+8613900139000", "register")
    assert "out of memory" in caplog.text
    assert client.get("/accounts/phone/captcha/").status_code == 503
    assert len(django_smsverify.outbox) == 1

    free_memory(admin)
    # The refused guesses were never counted: four wrong ones still leave the right one.
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeMismatch) as mismatch:
            verification.check_code(PHONE, wrong_code(code), "register")
        assert mismatch.value.attempts_left == left
    assert verification.check_code(PHONE, code, "register") == PHONE

"""Verification state under memory pressure, against real ``maxmemory`` behaviour.

Each test starts redis-server processes of its own, on free ports, with a
small ``maxmemory`` and the policy under test (never the suite's shared
Redis), and drives the real code paths: ``verification.send_code`` and
``verify_code``, the captcha store and the HTTP views.

- ``noeviction``: a full server refuses writes but still runs reads and
  ``DEL``. A wrong guess whose count is refused must not be answered, and
  the right code must not pass while counts are being refused (that would be
  an unlimited-guess oracle). After memory frees, the guesses that got an
  answer other than 503 are exactly the ones the lock-out counted.
- ``volatile-lru``/``allkeys-lru``: a flood of captcha challenges on their own
  cache (``SMSVERIFY["CAPTCHA_CACHE"]``) evicts challenges, never quotas,
  cooldowns or wrong-guess counts.

Both on Redis 7 (scripts with a ``#!lua`` shebang, refused whole when out of
memory) and on Redis 6's script semantics: a "redis6" case makes the client
refuse shebangs with Redis 6's own compile error, so the store falls back to
its scripts without one, which the real Redis 7 server then runs with the
same out-of-memory rules as Redis 6 (a write is refused when the script
reaches it, unless the script has written already).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import run_checks

import django_smsverify
from django_smsverify import captcha, checks, verification
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.exceptions import (
    CodeExpired,
    CodeMismatch,
    RateLimited,
    ServiceUnavailable,
    TooManyAttempts,
)
from django_smsverify.store import redis as redis_store
from tests.conftest import DOWN_CACHE_CONFIGS
from tests.helpers import last_code, wrong_code

pytestmark = pytest.mark.django_db

PHONE = "+8613800138000"
OTHERS = ["+8613900139000", "+8613700137000", "+8613600136000", "+8613500135000"]
IP = "203.0.113.9"
PASSWORD = "Tr1cky-horse-battery"
REDIS6_COMPILE_ERROR = (
    "Error compiling script (new function): user_script:1: unexpected symbol near '#'"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


StartServer = Callable[[str, str], tuple[str, redis.Redis]]


@pytest.fixture
def start_redis() -> Iterator[StartServer]:
    """``start(policy, maxmemory)`` starts a redis-server of this test's own and
    returns its URL and a client; every server started is stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    started: list[tuple[subprocess.Popen[bytes], redis.Redis]] = []

    def start(policy: str, maxmemory: str) -> tuple[str, redis.Redis]:
        port = free_port()
        # Lazy freeing would make DEL hand memory back in the background.
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--maxmemory", maxmemory, "--maxmemory-policy", policy]
        args += ["--lazyfree-lazy-user-del", "no"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        admin = redis.Redis(port=port)
        started.append((process, admin))
        for _ in range(200):
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.025)
        else:
            pytest.fail(f"redis-server on port {port} did not answer")
        assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == policy
        return f"redis://127.0.0.1:{port}/0", admin

    yield start
    for process, admin in started:
        admin.close()
        process.kill()
        process.wait()


def cache_config(kind: str, url: str) -> dict[str, Any]:
    if kind == "django-redis":
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 2},
        }
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }


@pytest.fixture(params=["django-redis", "redis"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def emulate_redis6(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every client refuse a script with a shebang the way Redis 6 does."""
    original = redis.Redis.eval

    def eval_without_shebangs(self: redis.Redis, script: Any, numkeys: int, *rest: Any) -> Any:
        text = script.decode() if isinstance(script, bytes) else str(script)
        if text.startswith("#!"):
            raise redis.exceptions.ResponseError(REDIS6_COMPILE_ERROR)
        return original(self, script, numkeys, *rest)

    monkeypatch.setattr(redis.Redis, "eval", eval_without_shebangs)


@pytest.fixture(params=["redis7", "redis6"])
def server_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "redis6":
        emulate_redis6(monkeypatch)
    return str(request.param)


def assert_scripts_ran_as(admin: redis.Redis, server_kind: str) -> None:
    """The check script that ran was the form for ``server_kind``."""
    script = redis_store._check
    flagged, plain = admin.script_exists(script.flagged_sha, script.sha)
    assert (flagged, plain) == ((True, False) if server_kind == "redis7" else (False, True))


def fill_memory(admin: redis.Redis) -> None:
    """Write to the server until it refuses for ``maxmemory``, then lower the
    limit a little more, so that small changes (a client's buffers) cannot
    take it back under while the test runs."""
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", used + 1024 * 1024)
    for i in range(1000):
        try:
            admin.set(f"filler:{i}", b"x" * 32 * 1024)
        except redis.exceptions.OutOfMemoryError:
            break
    else:
        pytest.fail("the server never ran out of memory")
    full = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", full - 256 * 1024)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.set("probe", b"1")


def free_memory(admin: redis.Redis) -> None:
    admin.delete(*admin.keys("filler:*"))
    admin.set("probe", b"1")
    admin.delete("probe")


def register_page(client: Any, code: str) -> Any:
    return client.post(
        "/accounts/phone/register/",
        {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD},
    )


@pytest.fixture
def full_server(start_redis, settings, client_kind, server_kind) -> redis.Redis:
    """One noeviction server holding everything (captchas too), as the old docs had it."""
    url, admin = start_redis("noeviction", "64mb")
    settings.CACHES = {"default": cache_config(client_kind, url)}
    settings.SMSVERIFY = {"MAX_ATTEMPTS": 5, "CAPTCHA": {"ENABLED": True}}
    return admin


# noeviction: fail closed ---------------------------------------------------------


def test_out_of_memory_guesses_are_refused_and_only_answered_ones_count(
    full_server, server_kind, client
):
    admin = full_server
    verification.send_code(PHONE, "register", ip=IP)
    code = last_code()
    wrong = wrong_code(code)
    answered = 0  # wrong guesses answered with something other than 503

    with pytest.raises(CodeMismatch):
        verification.verify_code(PHONE, wrong, "register")
    answered += 1
    assert_scripts_ran_as(admin, server_kind)

    fill_memory(admin)
    for _ in range(300):
        with pytest.raises(ServiceUnavailable):
            verification.verify_code(PHONE, wrong, "register")
    # While counts are refused, the right code must not pass either.
    with pytest.raises(ServiceUnavailable):
        verification.verify_code(PHONE, code, "register")
    # Over HTTP: 503, never a 500 and never a user.
    assert register_page(client, wrong).status_code == 503
    assert register_page(client, code).status_code == 503
    assert client.get("/accounts/phone/captcha/").status_code == 503
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.exists()

    free_memory(admin)
    for left in (3, 2, 1):
        with pytest.raises(CodeMismatch) as mismatch:
            verification.verify_code(PHONE, wrong, "register")
        answered += 1
        assert mismatch.value.attempts_left == left
    with pytest.raises(TooManyAttempts):
        verification.verify_code(PHONE, wrong, "register")
    answered += 1
    assert answered == 5  # MAX_ATTEMPTS: the refused 300 were never counted...
    # ...and after 5 counted wrong guesses no code passes, nor can a new one be sent.
    with pytest.raises(TooManyAttempts):
        verification.verify_code(PHONE, code, "register")
    with pytest.raises(RateLimited) as limited:
        verification.send_code(PHONE, "register", ip=IP)
    assert limited.value.scope == "attempts"


def test_the_right_code_waits_for_memory_and_then_passes_once(full_server, server_kind):
    admin = full_server
    verification.send_code(PHONE, "register", ip=IP)
    code = last_code()
    with pytest.raises(CodeMismatch):
        verification.verify_code(PHONE, wrong_code(code), "register")

    fill_memory(admin)
    with pytest.raises(ServiceUnavailable):
        verification.verify_code(PHONE, code, "register")
    # A send is refused whole too: nothing stored, nothing counted, nothing sent.
    with pytest.raises(ServiceUnavailable):
        verification.send_code(OTHERS[0], "register", ip=IP)
    assert len(django_smsverify.outbox) == 1

    free_memory(admin)
    assert verification.verify_code(PHONE, code, "register").phone == PHONE
    with pytest.raises(CodeExpired):  # once
        verification.verify_code(PHONE, code, "register")
    assert_scripts_ran_as(admin, server_kind)
    # The refused send took nothing: the same send now goes out.
    verification.send_code(OTHERS[0], "register", ip=IP)
    assert len(django_smsverify.outbox) == 2


def test_a_captcha_flood_on_a_shared_noeviction_server_fails_closed(full_server):
    """Challenges sharing the verification server (CAPTCHA_CACHE unset) fill it:
    from then on every step answers 503; nothing is evicted, nothing passes."""
    admin = full_server
    verification.send_code(PHONE, "register", ip=IP)
    code = last_code()
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", used + 512 * 1024)
    created = 0
    with pytest.raises(ServiceUnavailable):  # noqa: PT012 - the flood ends in it
        for _ in range(100_000):
            captcha.new_challenge()
            created += 1
    assert created > 1000
    assert int(admin.info("stats")["evicted_keys"]) == 0
    # Hold it full (a client's buffers shrinking must not take it back under).
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 256 * 1024)
    with pytest.raises(ServiceUnavailable):
        verification.verify_code(PHONE, code, "register")
    with pytest.raises(ServiceUnavailable):
        verification.send_code(OTHERS[0], "register", ip=IP)


# Evicting servers: challenges on their own cache ------------------------------------


@pytest.mark.parametrize(
    ("counters_policy", "captcha_policy"),
    [("noeviction", "allkeys-lru"), ("volatile-lru", "volatile-lru")],
)
def test_a_captcha_flood_on_its_own_cache_evicts_no_limit(
    start_redis, settings, client_kind, counters_policy, captcha_policy
):
    counters_url, counters = start_redis(counters_policy, "3mb")
    captcha_url, captchas = start_redis(captcha_policy, "3mb")
    settings.CACHES = {
        "default": cache_config(client_kind, counters_url),
        "captcha": cache_config(client_kind, captcha_url),
    }
    settings.SMSVERIFY = {
        "CAPTCHA_CACHE": "captcha",
        "MAX_ATTEMPTS": 5,
        "RESEND_COOLDOWN": 60,
        "SEND_LIMITS": {"PHONE_PER_HOUR": 5, "PHONE_PER_DAY": 10, "IP_PER_HOUR": 3},
    }
    # An IP that used up its hourly quota; a number in its cooldown; a code
    # with two wrong guesses against it.
    verification.send_code(PHONE, "register", ip=IP)
    code = last_code(PHONE)
    verification.send_code(OTHERS[0], "register", ip=IP)
    verification.send_code(OTHERS[1], "register", ip=IP)
    with pytest.raises(RateLimited) as limited:
        verification.send_code(OTHERS[2], "register", ip=IP)
    assert limited.value.scope == "ip_hour"
    for _ in range(2):
        with pytest.raises(CodeMismatch):
            verification.verify_code(PHONE, wrong_code(code), "register")
    counter_keys = counters.dbsize()

    for _ in range(16_000):
        captcha.new_challenge()

    with pytest.raises(RateLimited) as limited:  # the exhausted IP stays exhausted
        verification.send_code(OTHERS[3], "register", ip=IP)
    assert limited.value.scope == "ip_hour"
    with pytest.raises(RateLimited) as limited:  # the cooldown holds
        verification.send_code(OTHERS[0], "register", ip="198.51.100.7")
    assert limited.value.scope == "cooldown"
    with pytest.raises(CodeMismatch) as mismatch:  # the half-used code's count survives
        verification.verify_code(PHONE, wrong_code(code), "register")
    assert mismatch.value.attempts_left == 2

    assert int(captchas.info("stats")["evicted_keys"]) > 1000  # the flood did overflow
    assert int(counters.info("stats")["evicted_keys"]) == 0
    assert counters.dbsize() == counter_keys  # no challenge went to the counters' server
    fresh = captcha.new_challenge()  # and challenges still work
    assert captcha.verify(fresh.key, answer_for(fresh.key))


# Redis 6 and 7 side by side ------------------------------------------------------


def test_a_pool_learns_again_when_its_server_changes(start_redis, settings, monkeypatch):
    """A pool that learnt "no shebangs" tries them again after NOSCRIPT (a
    failover or an upgrade to Redis 7), and the other way round."""
    url, admin = start_redis("noeviction", "64mb")
    settings.CACHES = {"default": cache_config("redis", url)}
    settings.SMSVERIFY = {"CAPTCHA": False}
    emulate_redis6(monkeypatch)
    verification.send_code(PHONE, "register")
    with pytest.raises(CodeMismatch):
        verification.verify_code(PHONE, wrong_code(last_code()), "register")
    assert_scripts_ran_as(admin, "redis6")

    monkeypatch.undo()  # "upgraded": shebangs work now
    admin.script_flush()
    with pytest.raises(CodeMismatch):
        verification.verify_code(PHONE, wrong_code(last_code()), "register")
    assert_scripts_ran_as(admin, "redis7")

    emulate_redis6(monkeypatch)  # "failed over" to a Redis 6
    admin.script_flush()
    assert verification.check_code(PHONE, last_code(), "register") == PHONE
    assert_scripts_ran_as(admin, "redis6")


# The generic store (no Lua): a write the cache drops ------------------------------


class DroppingCache(LocMemCache):
    """LocMem that, while ``full``, silently keeps no write (like Memcached
    answering "not stored": Django reports no error)."""

    full = False

    def set(self, *args: Any, **kwargs: Any) -> None:
        if not DroppingCache.full:
            super().set(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> bool:
        return False if DroppingCache.full else super().add(*args, **kwargs)


@pytest.fixture
def dropping_cache(settings) -> Iterator[None]:
    settings.CACHES = {
        "default": {"BACKEND": "tests.test_memory_pressure.DroppingCache", "LOCATION": "oom"}
    }
    settings.SMSVERIFY = {"CAPTCHA": False, "MAX_ATTEMPTS": 5}
    from django.core.cache import caches

    caches["default"].clear()
    yield
    DroppingCache.full = False
    caches["default"].clear()


def test_generic_store_never_answers_a_guess_it_could_not_count(dropping_cache):
    verification.send_code(PHONE, "register", ip=IP)
    code = last_code()
    with pytest.raises(CodeMismatch):
        verification.verify_code(PHONE, wrong_code(code), "register")

    DroppingCache.full = True
    with pytest.raises(ServiceUnavailable):
        verification.verify_code(PHONE, wrong_code(code), "register")
    # The code that guess was aimed at is gone (the cache may have dropped the
    # count with the write): nothing passes, right or wrong.
    with pytest.raises(CodeExpired):
        verification.verify_code(PHONE, code, "register")
    for _ in range(20):
        with pytest.raises(CodeExpired):
            verification.verify_code(PHONE, wrong_code(code), "register")
    # A send whose quotas and cooldown would not be kept sends nothing.
    with pytest.raises(ServiceUnavailable):
        verification.send_code(OTHERS[0], "register", ip=IP)
    assert len(django_smsverify.outbox) == 1

    DroppingCache.full = False
    with pytest.raises(CodeExpired):
        verification.verify_code(PHONE, code, "register")
    # The wrong guess before the cache filled still counts.
    assert stored_attempts() == 1


def test_generic_store_counts_and_passes_as_before(dropping_cache):
    verification.send_code(PHONE, "register", ip=IP)
    code = last_code()
    for left in (4, 3):
        with pytest.raises(CodeMismatch) as mismatch:
            verification.verify_code(PHONE, wrong_code(code), "register")
        assert mismatch.value.attempts_left == left
    assert verification.check_code(PHONE, code, "register") == PHONE
    # The right code took its own count back: two wrong guesses stay counted.
    assert stored_attempts() == 2


def stored_attempts() -> int:
    from django.core.cache import caches

    from django_smsverify.store.base import Keys

    stored = caches["default"].get(Keys.build(PHONE, "register").attempts)
    assert isinstance(stored, tuple)
    return int(stored[0])


# The deployment check (smsverify.W014) and the alias check (E007) ----------------


def w014(messages: list[Any]) -> list[Any]:
    return [m for m in messages if m.id == "smsverify.W014"]


@pytest.mark.parametrize("policy", ["volatile-lru", "allkeys-lru", "volatile-ttl"])
def test_w014_evicting_policy(start_redis, settings, client_kind, policy):
    url, _ = start_redis(policy, "64mb")
    settings.CACHES = {"default": cache_config(client_kind, url)}
    messages = checks.check_eviction_policy()
    assert [m.id for m in messages] == ["smsverify.W014"]
    assert repr(policy) in messages[0].msg
    assert "noeviction" in messages[0].hint
    assert "CAPTCHA_CACHE" in messages[0].hint
    # Only with --deploy.
    assert w014(run_checks(include_deployment_checks=True))
    assert not w014(run_checks())


def test_w014_silent_on_noeviction(start_redis, settings, client_kind):
    url, _ = start_redis("noeviction", "64mb")
    settings.CACHES = {"default": cache_config(client_kind, url)}
    assert checks.check_eviction_policy() == []


def test_w014_reads_the_counters_alias_not_the_captcha_one(start_redis, settings):
    counters_url, _ = start_redis("noeviction", "64mb")
    captcha_url, _ = start_redis("allkeys-lru", "64mb")
    settings.CACHES = {
        "default": cache_config("redis", captcha_url),
        "verification": cache_config("redis", counters_url),
    }
    settings.SMSVERIFY = {"CACHE": "verification", "CAPTCHA_CACHE": "default"}
    assert checks.check_eviction_policy() == []
    settings.SMSVERIFY = {"CACHE": "default", "CAPTCHA_CACHE": "verification"}
    assert [m.id for m in checks.check_eviction_policy()] == ["smsverify.W014"]


@pytest.mark.parametrize("kind", list(DOWN_CACHE_CONFIGS))
def test_w014_silent_when_redis_is_unreachable(settings, kind):
    settings.CACHES = {"default": DOWN_CACHE_CONFIGS[kind]}
    assert checks.check_eviction_policy() == []


def test_w014_silent_when_not_redis(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert checks.check_eviction_policy() == []
    settings.SMSVERIFY = {"CACHE": "missing"}  # E007's business
    assert checks.check_eviction_policy() == []


def test_e007_captcha_cache_alias_missing(settings):
    settings.SMSVERIFY = {"CAPTCHA_CACHE": "captchas"}
    messages = checks.check_cache_alias()
    assert [m.id for m in messages] == ["smsverify.E007"]
    assert "SMSVERIFY['CAPTCHA_CACHE'] is 'captchas'" in messages[0].msg
    settings.CACHES = {**settings.CACHES, "captchas": {"BACKEND": LOCMEM}}
    assert checks.check_cache_alias() == []
    settings.SMSVERIFY = {}
    assert checks.check_cache_alias() == []


LOCMEM = "django.core.cache.backends.locmem.LocMemCache"


def test_captcha_cache_routes_challenges(settings):
    settings.CACHES = {
        "default": {"BACKEND": LOCMEM, "LOCATION": "counters"},
        "captchas": {"BACKEND": LOCMEM, "LOCATION": "captchas"},
    }
    settings.SMSVERIFY = {"CAPTCHA_CACHE": "captchas"}
    from django.core.cache import caches

    challenge = captcha.new_challenge()
    assert caches["captchas"]._cache and not caches["default"]._cache
    assert captcha.verify(challenge.key, answer_for(challenge.key))

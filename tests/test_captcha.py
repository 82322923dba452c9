"""The captcha core: challenges, single use, expiry, garbage keys, the race.

Every store behaviour runs on LocMem, django-redis and Django's RedisCache
(the ``store_cache`` fixture).
"""

from __future__ import annotations

import random
import re
import threading
import time

import pytest
import time_machine
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from django_smsverify import captcha
from django_smsverify.captcha.challenge import answer_for, normalize_answer
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import ServiceUnavailable
from tests.conftest import DOWN_CACHE_CONFIGS

GARBAGE_KEYS = [
    "",
    "x" * 10_240,
    "A" * 31 + "\x00",
    "\x00" * 32,
    "中" * 32,
    "é" * 32,
    "A" * 33,
    "A" * 31,
    "../../../../etc/passwd" + "A" * 10,
    None,
    12345,
    b"A" * 32,
]


def stored_items(store_cache, redis_db=None):
    """Every (key, value) the cache holds right now, as text."""
    if store_cache == "locmem":
        cache = caches["default"]
        assert isinstance(cache, LocMemCache)
        return [(k, repr(cache._cache[k])) for k in cache._cache]
    return [(k.decode(), repr(redis_db.get(k))) for k in redis_db.keys("*")]


# Settings ------------------------------------------------------------------------


def test_captcha_is_on_by_default_with_documented_defaults(settings):
    settings.SMSVERIFY = {}
    options = app_settings.CAPTCHA
    assert bool(options) is True
    assert captcha.is_enabled() is True
    assert (options.LENGTH, options.TTL, options.WIDTH, options.HEIGHT) == (4, 300, 150, 50)
    assert options.TEST_MODE is False


@pytest.mark.parametrize(
    ("value", "enabled", "length"),
    [(True, True, 4), (False, False, 4), ({"LENGTH": 6}, True, 6), ({"ENABLED": False}, False, 4)],
)
def test_captcha_setting_accepts_a_bool_or_a_dict(settings, value, enabled, length):
    settings.SMSVERIFY = {"CAPTCHA": value}
    assert captcha.is_enabled() is enabled
    assert bool(app_settings.CAPTCHA) is enabled
    assert length == app_settings.CAPTCHA.LENGTH
    assert app_settings.CAPTCHA.TTL == 300


# Challenges -------------------------------------------------------------------------


def test_alphabet_has_no_look_alikes():
    # One of each pair a person confuses, including the 4/A and 9/S a human
    # tester misread.
    for char in "0OQ1IlL2756G8B9AVFR":
        assert char not in captcha.ALPHABET
    for pair in ("0O", "1I", "2Z", "5S", "6G", "8B", "4A", "9S", "UV"):
        assert not set(pair) <= set(captcha.ALPHABET), pair
    assert len(set(captcha.ALPHABET)) == len(captcha.ALPHABET) == 18


def test_new_challenge_gives_a_random_url_safe_key(store_cache):
    keys = {captcha.new_challenge().key for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", key)
    answers = {answer_for(key) for key in keys}
    # 18**4 possible answers: 50 draws repeat one rarely, never half of them.
    assert len(answers) > 40
    for answer in answers:
        assert len(answer) == 4
        assert set(answer) <= set(captcha.ALPHABET)


def test_length_and_ttl_come_from_settings(store_cache, settings):
    settings.SMSVERIFY = {"CAPTCHA": {"LENGTH": 6, "TTL": 60}}
    challenge = captcha.new_challenge()
    assert challenge.expires_in == 60
    assert len(answer_for(challenge.key)) == 6
    assert captcha.verify(challenge.key, answer_for(challenge.key)) is True


def test_the_global_random_state_is_not_used(store_cache):
    random.seed(1234)
    before = random.getstate()
    challenge = captcha.new_challenge()
    assert captcha.challenge_image(challenge.key) is not None
    assert captcha.challenge_image(challenge.key, scale=2) is not None
    assert captcha.verify(challenge.key, answer_for(challenge.key)) is True
    assert random.getstate() == before


def test_store_holds_neither_the_key_nor_the_answer(store_cache, request):
    redis_db = None if store_cache == "locmem" else request.getfixturevalue("redis_db")
    challenge = captcha.new_challenge()
    answer = answer_for(challenge.key)
    items = stored_items(store_cache, redis_db)
    assert len(items) == 1
    key, value = items[0]
    assert challenge.key not in key
    assert challenge.key not in value
    assert answer not in value
    assert answer.lower() not in value
    # A fixed-length hash inside a Redis Cluster hash tag.
    assert re.search(r"smsverify:\{captcha:[0-9a-f]{32}\}$", key)
    if redis_db is not None:
        ttl = redis_db.pttl(key.encode())
        assert 299_000 < ttl <= 300_000


# Checking -----------------------------------------------------------------------------


def test_right_answer_passes_once(store_cache):
    challenge = captcha.new_challenge()
    answer = answer_for(challenge.key)
    assert captcha.is_live(challenge.key) is True
    assert captcha.verify(challenge.key, answer) is True
    assert captcha.is_live(challenge.key) is False
    assert captcha.verify(challenge.key, answer) is False


def test_wrong_answer_burns_the_challenge(store_cache):
    challenge = captcha.new_challenge()
    answer = answer_for(challenge.key)
    alphabet = captcha.ALPHABET
    wrong = "".join(alphabet[(alphabet.index(c) + 1) % len(alphabet)] for c in answer)
    assert captcha.verify(challenge.key, wrong) is False
    assert captcha.is_live(challenge.key) is False
    assert captcha.verify(challenge.key, answer) is False


@pytest.mark.parametrize("bad_answer", ["", "   ", None, 42, "x" * 10_000, "\x00\x00\x00\x00"])
def test_empty_or_garbage_answer_fails_and_burns(store_cache, bad_answer):
    challenge = captcha.new_challenge()
    assert captcha.verify(challenge.key, bad_answer) is False
    assert captcha.verify(challenge.key, answer_for(challenge.key)) is False


def test_answer_is_case_insensitive_and_ignores_spaces(store_cache):
    first, second = captcha.new_challenge(), captcha.new_challenge()
    assert captcha.verify(first.key, answer_for(first.key).lower()) is True
    spaced = " ".join(answer_for(second.key).lower()) + " \n"
    assert captcha.verify(second.key, spaced) is True
    assert normalize_answer(" ab c\td ") == "ABCD"


def test_a_challenge_answer_does_not_fit_another_key(store_cache):
    first, second = captcha.new_challenge(), captcha.new_challenge()
    if answer_for(first.key) == answer_for(second.key):  # pragma: no cover - 1 in 18**4
        second = captcha.new_challenge()
    assert captcha.verify(second.key, answer_for(first.key)) is False
    assert captcha.verify(first.key, answer_for(first.key)) is True


def test_expired_challenge_fails(store_cache):
    with time_machine.travel(time.time(), tick=False) as traveller:
        challenge = captcha.new_challenge()
        alive = captcha.new_challenge()
        traveller.shift(299)
        assert captcha.is_live(alive.key) is True
        assert captcha.verify(alive.key, answer_for(alive.key)) is True
        traveller.shift(2)
        assert captcha.is_live(challenge.key) is False
        assert captcha.challenge_image(challenge.key) is None
        assert captcha.verify(challenge.key, answer_for(challenge.key)) is False


def test_unknown_well_formed_key_fails(store_cache):
    key = "A" * 32
    assert captcha.is_live(key) is False
    assert captcha.challenge_image(key) is None
    assert captcha.verify(key, answer_for(key)) is False


@pytest.mark.parametrize("key", GARBAGE_KEYS, ids=lambda k: repr(k)[:20])
def test_garbage_keys_fail_without_touching_live_challenges(store_cache, key):
    challenge = captcha.new_challenge()
    assert captcha.verify(key, "ABCD") is False
    assert captcha.is_live(key) is False
    assert captcha.challenge_image(key) is None
    assert captcha.verify(challenge.key, answer_for(challenge.key)) is True


# Single use under concurrency ----------------------------------------------------------


@pytest.mark.parametrize("threads", [20])
def test_concurrent_submissions_of_one_solved_challenge_accept_exactly_one(store_cache, threads):
    challenge = captcha.new_challenge()
    answer = answer_for(challenge.key)
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def submit() -> None:
        try:
            barrier.wait(timeout=10)
            ok = captcha.verify(challenge.key, answer)
        except BaseException as exc:  # reported below, never swallowed
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(ok)

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not errors
    assert len(results) == threads
    assert results.count(True) == 1
    assert results.count(False) == threads - 1
    print(
        f"[{store_cache}] {threads} threads: {results.count(True)} accepted, "
        f"{results.count(False)} refused"
    )


# Test mode ------------------------------------------------------------------------------


def test_test_answer_is_refused_unless_test_mode_is_on(store_cache, settings):
    challenge = captcha.new_challenge()
    assert captcha.verify(challenge.key, "PASSED") is False
    settings.SMSVERIFY = {"CAPTCHA": {"TEST_MODE": False, "TEST_ANSWER": "PASSED"}}
    assert captcha.verify(captcha.new_challenge().key, "PASSED") is False


def test_test_mode_accepts_the_test_answer_with_any_key(store_cache, settings):
    settings.SMSVERIFY = {"CAPTCHA": {"TEST_MODE": True}}
    assert captcha.verify("anything", "passed") is True
    assert captcha.verify("", "PASSED") is True
    # Real answers still work and other answers still fail.
    challenge = captcha.new_challenge()
    assert captcha.verify(captcha.new_challenge().key, "NOPE") is False
    assert captcha.verify(challenge.key, answer_for(challenge.key)) is True
    settings.SMSVERIFY = {"CAPTCHA": {"TEST_MODE": True, "TEST_ANSWER": "open sesame"}}
    assert captcha.verify("k", "OPENSESAME") is True
    assert captcha.verify("k", "PASSED") is False


# Outage ----------------------------------------------------------------------------------

DOWN_CACHES = DOWN_CACHE_CONFIGS


@pytest.fixture(params=["locmem", *DOWN_CACHES])
def store_down(request, settings, monkeypatch):
    """The verification cache is unreachable (closed port, or a failing generic cache)."""
    if request.param == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

        def fail(*args, **kwargs):
            raise ConnectionError("cache is down")

        for name in ("get", "set", "delete"):
            monkeypatch.setattr(LocMemCache, name, fail)
    else:
        settings.CACHES = {"default": DOWN_CACHES[request.param]}
    return request.param


def test_store_outage_raises_service_unavailable(store_down, caplog):
    with pytest.raises(ServiceUnavailable):
        captcha.new_challenge()
    with pytest.raises(ServiceUnavailable):
        captcha.verify("A" * 32, "ABCD")
    with pytest.raises(ServiceUnavailable):
        captcha.is_live("A" * 32)
    with pytest.raises(ServiceUnavailable):
        captcha.challenge_image("A" * 32)
    # A malformed key is refused before the store is asked.
    assert captcha.verify("\x00", "ABCD") is False


def test_test_mode_needs_no_store(store_down, settings):
    settings.SMSVERIFY = {"CAPTCHA": {"TEST_MODE": True}}
    assert captcha.verify("A" * 32, "PASSED") is True

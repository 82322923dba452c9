"""Key rotation: a rolling deploy that changes the hash key loses nothing.

A "server" here is a settings state: the old servers run ``SECRET_KEY = OLD``,
the new ones ``SECRET_KEY = NEW`` with ``SECRET_KEY_FALLBACKS = [OLD]``, and
once the rotation is over ``NEW`` alone. Both kinds share one store, as on a
real fleet, and every store behaviour runs on LocMem, django-redis and
Django's RedisCache (the ``store_cache`` fixture).
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import checks

import django_smsverify
from django_smsverify import checks as smsverify_checks
from django_smsverify import handoff, verification
from django_smsverify.captcha.challenge import (
    answer_for,
    challenge_image,
    is_live,
    new_challenge,
)
from django_smsverify.captcha.challenge import verify as verify_captcha
from django_smsverify.exceptions import (
    CodeExpired,
    CodeMismatch,
    RateLimited,
    TooManyAttempts,
)
from django_smsverify.message import SmsMessage
from tests.helpers import last_code, wrong_code

PHONE = "+8613800138000"
START = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.timezone.utc)
OLD = "old-secret-key-" + "o" * 40
NEW = "new-secret-key-" + "n" * 40


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def servers(settings):
    """Switch this process between the kinds of server of a rotation."""

    class Servers:
        def old(self, smsverify=None):
            settings.SECRET_KEY = OLD
            settings.SECRET_KEY_FALLBACKS = []
            settings.SMSVERIFY = smsverify or {}

        def new(self, smsverify=None):
            settings.SECRET_KEY = NEW
            settings.SECRET_KEY_FALLBACKS = [OLD]
            settings.SMSVERIFY = smsverify or {}

        def rotated(self, smsverify=None):
            settings.SECRET_KEY = NEW
            settings.SECRET_KEY_FALLBACKS = []
            settings.SMSVERIFY = smsverify or {}

    return Servers()


# Codes --------------------------------------------------------------------------


def test_code_sent_by_an_old_server_passes_on_a_new_one_once(store_cache, servers):
    servers.old()
    verification.send_code(PHONE, "register")
    code = last_code()
    servers.new()
    assert verification.check_code(PHONE, code, "register") == PHONE
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "register")
    servers.old()
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "register")


def test_wrong_guesses_alternating_servers_lock_after_max_attempts_in_total(store_cache, servers):
    servers.old()
    verification.send_code(PHONE, "login")
    code = last_code()
    left = []
    for turn in range(4):
        (servers.new if turn % 2 else servers.old)()
        with pytest.raises(CodeMismatch) as excinfo:
            verification.check_code(PHONE, wrong_code(code), "login")
        left.append(excinfo.value.attempts_left)
    assert left == [4, 3, 2, 1]
    servers.new()
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, wrong_code(code), "login")
    # The code is dead everywhere, and so is a resend.
    for server in (servers.new, servers.old):
        server()
        with pytest.raises(TooManyAttempts):
            verification.check_code(PHONE, code, "login")
        with pytest.raises(RateLimited) as excinfo:
            verification.send_code(PHONE, "login")
        assert excinfo.value.scope == "attempts"


def test_resend_on_a_new_server_replaces_the_old_code_and_keeps_the_guess_count(
    store_cache, servers, clock
):
    servers.old()
    verification.send_code(PHONE, "register")
    old_code = last_code()
    for _ in range(3):
        with pytest.raises(CodeMismatch):
            verification.check_code(PHONE, wrong_code(old_code), "register")
    clock.shift(61)  # past the cooldown
    servers.new()
    verification.send_code(PHONE, "register")
    new_code = last_code()
    # A resend replaces the previous code, also across the rotation: an old
    # server no longer finds it, a new one counts it as a wrong guess.
    servers.old()
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, old_code, "register")
    servers.new()
    with pytest.raises(CodeMismatch) as excinfo:
        verification.check_code(PHONE, old_code, "register")
    # Three wrong guesses under the old key and one under the new: one is left.
    assert excinfo.value.attempts_left == 1
    guess = wrong_code(new_code)
    if guess == old_code:
        guess = wrong_code(guess)
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, guess, "register")
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, new_code, "register")


def test_cooldown_set_by_an_old_server_refuses_a_resend_on_a_new_one(store_cache, servers, clock):
    servers.old()
    verification.send_code(PHONE, "register")
    clock.shift(20)
    servers.new()
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert (excinfo.value.scope, excinfo.value.retry_after) == ("cooldown", 40)
    assert len(django_smsverify.outbox) == 1
    clock.shift(41)
    verification.send_code(PHONE, "register")
    assert len(django_smsverify.outbox) == 2


def test_lock_out_under_the_old_key_refuses_a_send_on_a_new_server(store_cache, servers):
    servers.old({"MAX_ATTEMPTS": 2})
    verification.send_code(PHONE, "login")
    code = last_code()
    with pytest.raises(CodeMismatch):
        verification.check_code(PHONE, wrong_code(code), "login")
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, wrong_code(code), "login")
    servers.new({"MAX_ATTEMPTS": 2})
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "login")
    assert excinfo.value.scope == "attempts"


def test_a_quota_full_under_the_old_key_stays_full_on_a_new_server(store_cache, servers, clock):
    limits = {"SEND_LIMITS": {"PHONE_PER_HOUR": 2}}
    servers.old(limits)
    verification.send_code(PHONE, "register")
    clock.shift(61)
    verification.send_code(PHONE, "register")
    clock.shift(61)
    servers.new(limits)
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.scope == "phone_hour"
    # Documented: counts under the old names are not carried over, so once
    # the fallback is dropped the number starts a fresh hour.
    servers.rotated(limits)
    verification.send_code(PHONE, "register")


def test_after_the_fallback_is_dropped_old_state_is_ignored(store_cache, servers):
    servers.old()
    verification.send_code(PHONE, "register")
    code = last_code()
    servers.rotated()
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "register")
    verification.send_code(PHONE, "register")  # the old cooldown no longer applies
    assert verification.check_code(PHONE, last_code(), "register") == PHONE


def test_code_verified_under_a_fallback_can_be_restored(store_cache, servers):
    servers.old()
    verification.send_code(PHONE, "register")
    code = last_code()
    servers.new()
    verified = verification.verify_code(PHONE, code, "register")
    verification.restore_code(verified)
    assert verification.check_code(PHONE, code, "register") == PHONE


# Captchas -----------------------------------------------------------------------


def test_captcha_made_by_an_old_server_is_drawn_and_solved_on_a_new_one(store_cache, servers):
    servers.old()
    challenge = new_challenge()
    answer = answer_for(challenge.key)
    image = challenge_image(challenge.key)
    servers.new()
    assert is_live(challenge.key)
    # The same picture, so the answer the user reads is the one checked.
    assert challenge_image(challenge.key) == image
    assert verify_captcha(challenge.key, answer) is True
    assert verify_captcha(challenge.key, answer) is False


def test_wrong_captcha_answer_on_a_new_server_uses_the_challenge_up(store_cache, servers):
    servers.old()
    challenge = new_challenge()
    answer = answer_for(challenge.key)
    servers.new()
    assert verify_captcha(challenge.key, "WRONG") is False
    servers.old()
    assert verify_captcha(challenge.key, answer) is False


def test_captcha_of_an_old_server_is_dead_once_the_fallback_is_dropped(store_cache, servers):
    servers.old()
    challenge = new_challenge()
    answer = answer_for(challenge.key)
    servers.rotated()
    assert challenge_image(challenge.key) is None
    assert verify_captcha(challenge.key, answer) is False


# The Celery hand-off ------------------------------------------------------------


def test_handoff_sealed_by_an_old_server_is_delivered_by_a_new_worker(store_cache, servers):
    from django_smsverify.tasks import deliver_sms

    servers.old({"DELIVERY_RECORDS": False})
    message = SmsMessage(to=[PHONE], body="Your code is 123456", params=["123456", "5"])
    expires_at = dt.datetime.now(dt.timezone.utc).timestamp() + 300
    handoff_id, pad = handoff.seal(message, expires_at)
    servers.new({"DELIVERY_RECORDS": False})
    deliver_sms.apply(
        kwargs={"handoff_id": handoff_id, "pad": pad, "record_id": None, "expires_at": expires_at}
    )
    (sent,) = django_smsverify.outbox
    assert (sent.to, sent.body) == ([PHONE], "Your code is 123456")


# An app-specific key: SMSVERIFY["HASH_KEY"] -------------------------------------


def test_hash_key_keeps_codes_cooldowns_and_captchas_through_a_secret_key_change(
    store_cache, servers
):
    own = {"HASH_KEY": "smsverify-own-key-" + "h" * 40}
    servers.old(own)
    verification.send_code(PHONE, "register")
    code = last_code()
    challenge = new_challenge()
    answer = answer_for(challenge.key)
    # SECRET_KEY rotated with no fallback at all (sessions were to be ended).
    servers.rotated(own)
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.scope == "cooldown"
    assert verification.check_code(PHONE, code, "register") == PHONE
    assert verify_captcha(challenge.key, answer) is True


def test_hash_key_list_rotates_like_secret_key_fallbacks(store_cache, settings):
    # SECRET_KEY changes at every step too: it plays no part once HASH_KEY is set.
    settings.SECRET_KEY = "secret-one"
    settings.SMSVERIFY = {"HASH_KEY": "hash-key-one"}
    verification.send_code(PHONE, "register")
    code = last_code()
    challenge = new_challenge()
    answer = answer_for(challenge.key)
    settings.SECRET_KEY = "secret-two"
    settings.SMSVERIFY = {"HASH_KEY": ["hash-key-two", "hash-key-one"]}
    assert verification.check_code(PHONE, code, "register") == PHONE
    assert verify_captcha(challenge.key, answer) is True
    verification.send_code(PHONE, "login")
    login_code = last_code()
    settings.SECRET_KEY = "secret-three"
    settings.SECRET_KEY_FALLBACKS = ["hash-key-one", "secret-one", "secret-two"]
    settings.SMSVERIFY = {"HASH_KEY": "hash-key-two"}
    assert verification.check_code(PHONE, login_code, "login") == PHONE
    # The dropped HASH_KEY is not looked at, even if it is in SECRET_KEY_FALLBACKS.
    settings.SMSVERIFY = {"HASH_KEY": "hash-key-three"}
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, login_code, "login")


def test_adopting_hash_key_pinned_to_the_old_secret_key_loses_nothing(store_cache, servers):
    servers.old()
    verification.send_code(PHONE, "register")
    code = last_code()
    servers.rotated({"HASH_KEY": OLD})
    assert verification.check_code(PHONE, code, "register") == PHONE


def test_new_values_are_written_under_the_current_key_only(store_cache, servers):
    servers.old()
    verification.send_code(PHONE, "register")
    servers.new()
    verification.send_code(PHONE, "login")
    code = last_code()
    # An old server does not know the new key's names: the code is not there.
    servers.old()
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "login")
    servers.rotated()
    assert verification.check_code(PHONE, code, "login") == PHONE


# The system check ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["", [], ["current", ""], 42, b"bytes-key", ["current", 7], {"KEY": "x"}]
)
def test_e016_bad_hash_key(settings, value):
    settings.SMSVERIFY = {"HASH_KEY": value}
    messages = smsverify_checks.check_hash_key()
    assert [m.id for m in messages] == ["smsverify.E016"]
    assert "HASH_KEY" in messages[0].msg
    assert "smsverify.E016" in [m.id for m in checks.run_checks()]


@pytest.mark.parametrize("value", [None, "a-key", ["current", "previous"], ("current",)])
def test_good_hash_key_passes(settings, value):
    settings.SMSVERIFY = {"HASH_KEY": value}
    assert smsverify_checks.check_hash_key() == []


def test_current_key_repeated_among_the_fallbacks_changes_nothing(store_cache, settings, clock):
    settings.SECRET_KEY = NEW
    settings.SECRET_KEY_FALLBACKS = [NEW, OLD, NEW]
    verification.send_code(PHONE, "register")
    clock.shift(61)
    verification.send_code(PHONE, "register")  # must not drop its own new code
    assert verification.check_code(PHONE, last_code(), "register") == PHONE
    challenge = new_challenge()
    assert verify_captcha(challenge.key, answer_for(challenge.key)) is True

"""The engine's behaviour, on every store (LocMem, django-redis, Django RedisCache)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import (
    CodeExpired,
    CodeMismatch,
    InvalidPhoneNumber,
    InvalidPurpose,
    RateLimited,
    SmsSendError,
    TooManyAttempts,
)
from tests.helpers import last_code, wrong_code

PHONE = "+8613800138000"
START = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.timezone.utc)

pytestmark = pytest.mark.usefixtures("store_cache")


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_send_returns_number_and_timings():
    result = verification.send_code("138 0013 8000", "register")
    assert result.phone == PHONE
    assert result.resend_after == 60
    assert result.expires_in == 300


def test_sms_carries_a_six_digit_code_and_validity():
    verification.send_code(PHONE, "register")
    (message,) = django_smsverify.outbox
    code, minutes = message.params
    assert message.to == [PHONE]
    assert message.purpose == "register"
    assert len(code) == 6 and code.isdigit()
    assert minutes == "5"
    assert code in message.body


def test_code_length_setting(settings):
    settings.SMSVERIFY = {"CODE_LENGTH": 8}
    verification.send_code(PHONE, "register")
    assert len(last_code()) == 8


def test_leading_zeros_are_kept(monkeypatch):
    monkeypatch.setattr(verification.secrets, "randbelow", lambda n: 42)
    verification.send_code(PHONE, "register")
    assert last_code() == "000042"
    assert verification.check_code(PHONE, "000042", "register") == PHONE


def test_codes_are_unpredictable():
    codes = {verification.generate_code() for _ in range(200)}
    assert len(codes) > 190


def test_correct_code_passes_once():
    verification.send_code(PHONE, "register")
    code = last_code()
    assert verification.check_code(PHONE, code, "register") == PHONE
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "register")


def test_check_accepts_any_spelling_of_the_number_and_code():
    verification.send_code("13800138000", "login")
    code = last_code()
    wide = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert verification.check_code("+86 138 0013 8000", f" {wide} ", "login") == PHONE


def test_code_for_one_purpose_never_passes_for_another():
    verification.send_code(PHONE, "register")
    code = last_code()
    for other in ("login", "reset_password", "change_phone"):
        with pytest.raises(CodeExpired):
            verification.check_code(PHONE, code, other)
    assert verification.check_code(PHONE, code, "register") == PHONE


def test_code_for_one_number_never_passes_for_another():
    verification.send_code(PHONE, "register")
    with pytest.raises(CodeExpired):
        verification.check_code("+8613900139000", last_code(), "register")


def test_unknown_purpose_is_refused():
    with pytest.raises(InvalidPurpose):
        verification.send_code(PHONE, "admin")
    with pytest.raises(InvalidPurpose):
        verification.check_code(PHONE, "123456", "")


def test_invalid_number_sends_nothing():
    with pytest.raises(InvalidPhoneNumber):
        verification.send_code("12345", "register")
    assert django_smsverify.outbox == []


def test_never_sent_is_expired():
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, "123456", "register")


def test_expiry_at_ttl_minus_and_plus_one_second(clock):
    verification.send_code(PHONE, "register")
    code = last_code()
    clock.shift(299)
    assert verification.check_code(PHONE, code, "register") == PHONE

    clock.shift(61)  # past the cooldown
    verification.send_code(PHONE, "register")
    code = last_code()
    clock.shift(301)
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, code, "register")


def test_resend_cooldown_with_exact_retry_after(clock):
    verification.send_code(PHONE, "register")
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.retry_after == 60
    assert excinfo.value.scope == "cooldown"
    clock.shift(45)
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.retry_after == 15
    clock.shift(15)
    verification.send_code(PHONE, "register")
    assert len(django_smsverify.outbox) == 2


def test_cooldown_is_per_purpose():
    verification.send_code(PHONE, "register")
    verification.send_code(PHONE, "login")
    assert len(django_smsverify.outbox) == 2


def test_resend_replaces_the_previous_code(clock):
    verification.send_code(PHONE, "register")
    first = last_code()
    clock.shift(60)
    verification.send_code(PHONE, "register")
    second = last_code()
    if first != second:
        with pytest.raises(CodeMismatch):
            verification.check_code(PHONE, first, "register")
    assert verification.check_code(PHONE, second, "register") == PHONE


def test_phone_hourly_quota(clock, settings):
    settings.SMSVERIFY = {"RESEND_COOLDOWN": 0, "SEND_LIMITS": {"PHONE_PER_HOUR": 3}}
    for _ in range(3):
        verification.send_code(PHONE, "register")
        clock.shift(10)
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "login")  # quotas count every purpose
    assert excinfo.value.scope == "phone_hour"
    assert excinfo.value.retry_after == 3600 - 30
    clock.shift(3600 - 30)
    verification.send_code(PHONE, "register")
    assert len(django_smsverify.outbox) == 4


def test_phone_daily_quota(clock, settings):
    settings.SMSVERIFY = {
        "RESEND_COOLDOWN": 0,
        "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": 4},
    }
    for _ in range(4):
        verification.send_code(PHONE, "register")
        clock.shift(100)
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.scope == "phone_day"
    assert excinfo.value.retry_after == 86400 - 400


def test_ip_hourly_quota_spans_numbers(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 2}}
    verification.send_code("+8613800138000", "register", ip="203.0.113.9")
    verification.send_code("+8613800138001", "register", ip="203.0.113.9")
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code("+8613800138002", "register", ip="203.0.113.9")
    assert excinfo.value.scope == "ip_hour"
    verification.send_code("+8613800138002", "register", ip="198.51.100.7")
    assert len(django_smsverify.outbox) == 3


def test_retry_after_is_the_longest_blocking_limit(clock, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"PHONE_PER_HOUR": 1}}
    verification.send_code(PHONE, "register")
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.retry_after == 3600
    assert excinfo.value.scope == "phone_hour"


def test_wrong_guesses_count_down_then_kill_the_code():
    verification.send_code(PHONE, "register")
    code = last_code()
    bad = wrong_code(code)
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeMismatch) as excinfo:
            verification.check_code(PHONE, bad, "register")
        assert excinfo.value.attempts_left == left
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, bad, "register")
    with pytest.raises(TooManyAttempts) as excinfo:
        verification.check_code(PHONE, code, "register")  # the right code is dead too
    assert excinfo.value.retry_after > 0


def test_lockout_also_blocks_sending(clock):
    verification.send_code(PHONE, "register")
    code = last_code()
    for _ in range(5):
        with pytest.raises((CodeMismatch, TooManyAttempts)):
            verification.check_code(PHONE, wrong_code(code), "register")
    clock.shift(60)
    with pytest.raises(RateLimited) as excinfo:
        verification.send_code(PHONE, "register")
    assert excinfo.value.scope == "attempts"
    assert excinfo.value.retry_after == 300 - 60
    assert len(django_smsverify.outbox) == 1
    clock.shift(300 - 60)
    verification.send_code(PHONE, "register")
    assert verification.check_code(PHONE, last_code(), "register") == PHONE


def test_resend_never_resets_the_attempt_count(clock):
    verification.send_code(PHONE, "register")
    for _ in range(3):
        with pytest.raises(CodeMismatch):
            verification.check_code(PHONE, wrong_code(last_code()), "register")
    clock.shift(60)
    verification.send_code(PHONE, "register")
    code = last_code()
    with pytest.raises(CodeMismatch) as excinfo:
        verification.check_code(PHONE, wrong_code(code), "register")
    assert excinfo.value.attempts_left == 1
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, wrong_code(code), "register")
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, code, "register")


def test_attempt_window_outlives_a_resent_code(clock):
    # 4 wrong guesses, then a resend just before the first code's window ends:
    # the count must still apply to the new code for its whole life.
    verification.send_code(PHONE, "register")
    for _ in range(4):
        with pytest.raises(CodeMismatch):
            verification.check_code(PHONE, wrong_code(last_code()), "register")
    clock.shift(290)
    verification.send_code(PHONE, "register")
    clock.shift(20)
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, wrong_code(last_code()), "register")


def test_max_attempts_setting(settings):
    settings.SMSVERIFY = {"MAX_ATTEMPTS": 2}
    verification.send_code(PHONE, "register")
    with pytest.raises(CodeMismatch) as excinfo:
        verification.check_code(PHONE, wrong_code(last_code()), "register")
    assert excinfo.value.attempts_left == 1
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, wrong_code(last_code()), "register")


@pytest.mark.parametrize("garbage", ["", "abc", "1" * 10_000, "12\x003456", None, 123456])
def test_garbage_codes_are_wrong_guesses(garbage):
    verification.send_code(PHONE, "register")
    with pytest.raises(CodeMismatch) as excinfo:
        verification.check_code(PHONE, garbage, "register")
    assert excinfo.value.attempts_left == 4
    assert verification.check_code(PHONE, last_code(), "register") == PHONE


def test_failed_send_gives_back_cooldown_and_quota(settings):
    from tests import failing_backend

    settings.SMSVERIFY = {"SEND_LIMITS": {"PHONE_PER_HOUR": 1}}
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    with pytest.raises(SmsSendError) as excinfo:
        verification.send_code(PHONE, "register", ip="203.0.113.9")
    assert excinfo.value.provider == "failing"
    assert failing_backend.SmsBackend.calls >= 1

    # The user may retry at once: no cooldown, and the hourly quota of 1 is untouched.
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    verification.send_code(PHONE, "register", ip="203.0.113.9")
    assert len(django_smsverify.outbox) == 1
    with pytest.raises(RateLimited):
        verification.send_code(PHONE, "login")


def test_code_of_a_failed_send_does_not_work(settings, monkeypatch):
    monkeypatch.setattr(verification.secrets, "randbelow", lambda n: 111111)
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    with pytest.raises(SmsSendError):
        verification.send_code(PHONE, "register")
    with pytest.raises(CodeExpired):
        verification.check_code(PHONE, "111111", "register")


def test_test_numbers_get_a_fixed_code_and_no_sms(settings):
    settings.SMSVERIFY = {"TEST_NUMBERS": {"138 0000 0000": "246810"}}
    result = verification.send_code("+8613800000000", "login")
    assert result.phone == "+8613800000000"
    assert django_smsverify.outbox == []
    assert verification.check_code("13800000000", "246810", "login") == "+8613800000000"
    with pytest.raises(RateLimited):  # limits still apply
        verification.send_code("+8613800000000", "login")


def test_test_numbers_do_not_affect_other_numbers(settings):
    settings.SMSVERIFY = {"TEST_NUMBERS": {"+8613800000000": "246810"}}
    verification.send_code(PHONE, "login")
    with pytest.raises(CodeMismatch):
        verification.check_code(PHONE, "246810" if last_code() != "246810" else "246811", "login")

"""A stateful Hypothesis model of send, resend, check and clock moves, run on
LocMem and on a real Redis. Invariants checked after every step:

* a code succeeds at most once;
* within its window the failure count never decreases (attempts_left never grows);
* no limit is exceeded: sends to a number and purpose are at least the cooldown
  apart, and no hourly or daily window holds more sends than its quota (windows
  are fixed and start at their first send, as SEND_LIMITS documents, so a
  sliding hour may hold up to twice the quota);
* a code that is fresh, unused and not locked out always passes.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from django.core.cache import caches
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import CodeExpired, CodeMismatch, RateLimited, TooManyAttempts
from tests.conftest import CACHE_CONFIGS

PHONES = ["+8613800138000", "+8613900139000"]
PURPOSES = ["register", "login"]
TTL, COOLDOWN, MAX_ATTEMPTS, PER_HOUR, PER_DAY = 300, 60, 3, 4, 6
SMSVERIFY = {
    "CODE_TTL": TTL,
    "RESEND_COOLDOWN": COOLDOWN,
    "MAX_ATTEMPTS": MAX_ATTEMPTS,
    "SEND_LIMITS": {"PHONE_PER_HOUR": PER_HOUR, "PHONE_PER_DAY": PER_DAY, "IP_PER_HOUR": None},
}
START = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


class EngineModel(RuleBasedStateMachine):
    cache_name = "locmem"

    def __init__(self):
        super().__init__()
        self.override = override_settings(
            CACHES={"default": CACHE_CONFIGS[self.cache_name]}, SMSVERIFY=SMSVERIFY
        )
        self.override.enable()
        caches["default"].clear()
        django_smsverify.outbox.clear()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.now = 0.0
        self.sends: dict[tuple[str, str], list[float]] = {}  # (phone, purpose) -> send times
        self.code: dict[tuple[str, str], tuple[str, float]] = {}  # latest code, its send time
        self.used: set[tuple[str, str, str]] = set()
        self.window_end: dict[tuple[str, str], float] = {}  # end of the wrong-guess window
        self.last_left: dict[tuple[str, str], int] = {}
        self.locked_until: dict[tuple[str, str], float] = {}
        # phone -> (window start, sends in it), per quota window length
        self.windows: dict[tuple[str, int], tuple[float, int]] = {}

    def teardown(self):
        self.clock.stop()
        caches["default"].clear()
        self.override.disable()

    # Rules -------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 10, 59, 60, 61, 299, 301, 1800, 3601, 86401]))
    def wait(self, seconds):
        self.traveller.shift(seconds)
        self.now += seconds

    @rule(phone=st.sampled_from(PHONES), purpose=st.sampled_from(PURPOSES))
    def send(self, phone, purpose):
        before = len(django_smsverify.outbox)
        try:
            verification.send_code(phone, purpose)
        except RateLimited as exc:
            assert exc.retry_after >= 1
            assert len(django_smsverify.outbox) == before
            return
        message = django_smsverify.outbox[-1]
        key = (phone, purpose)
        self.sends.setdefault(key, []).append(self.now)
        for length in (3600, 86400):
            start, count = self.windows.get((phone, length), (-(10**9), 0))
            if self.now >= start + length:
                start, count = self.now, 0
            self.windows[(phone, length)] = (start, count + 1)
        self.code[key] = (message.params[0], self.now)
        if self._in_window(key):  # wrong guesses keep counting against the new code
            self.window_end[key] = max(self.window_end[key], self.now + TTL)

    @rule(phone=st.sampled_from(PHONES), purpose=st.sampled_from(PURPOSES), correct=st.booleans())
    def check(self, phone, purpose, correct):
        key = (phone, purpose)
        latest = self.code.get(key)
        if latest is None:
            guess = "000000"
        elif correct:
            guess = latest[0]
        else:
            guess = f"{(int(latest[0]) + 1) % 10**6:06d}"
        live = (
            latest is not None
            and correct
            and self.now < latest[1] + TTL
            and (phone, purpose, latest[0]) not in self.used
            and self.now >= self.locked_until.get(key, -1)
        )
        try:
            verification.check_code(phone, guess, purpose)
        except CodeMismatch as exc:
            assert not live, "a fresh, unused code was refused"
            previous = self.last_left.get(key)
            if self._in_window(key):
                assert previous is None or exc.attempts_left < previous, (
                    "the failure count went down within its window"
                )
            else:
                self.window_end[key] = latest[1] + TTL  # a first failure opens a window
            self.last_left[key] = exc.attempts_left
        except TooManyAttempts as exc:
            assert not live
            self.locked_until[key] = self.now + exc.retry_after
            self.last_left.pop(key, None)
        except CodeExpired:
            assert not live, "a fresh, unused code was reported expired"
        else:
            assert correct and latest is not None
            code_key = (phone, purpose, latest[0])
            assert code_key not in self.used, "a code succeeded twice"
            self.used.add(code_key)

    def _in_window(self, key):
        # The window opens at the first wrong guess and lasts as long as the code
        # it was aimed at, or any code resent while it was open.
        return self.now < self.window_end.get(key, -1)

    # Invariants ----------------------------------------------------------------

    @invariant()
    def cooldown_respected(self):
        for times in self.sends.values():
            for a, b in itertools.pairwise(times):
                assert b - a >= COOLDOWN, "two sends within the cooldown"

    @invariant()
    def quotas_respected(self):
        for phone in PHONES:
            assert self.windows.get((phone, 3600), (0, 0))[1] <= PER_HOUR, "hourly quota exceeded"
            assert self.windows.get((phone, 86400), (0, 0))[1] <= PER_DAY, "daily quota exceeded"
            times = sorted(t for (p, _), ts in self.sends.items() if p == phone for t in ts)
            for i, start in enumerate(times):
                # However the windows fall, a sliding hour never holds more than two of them.
                in_hour = [t for t in times[i:] if t < start + 3600]
                assert len(in_hour) <= 2 * PER_HOUR, "hourly quota exceeded twice over"


def machine_for(cache_name):
    machine = type(f"EngineModel_{cache_name}", (EngineModel,), {"cache_name": cache_name})
    machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    return machine


@pytest.mark.django_db
@pytest.mark.parametrize("cache_name", ["locmem", "django-redis"])
def test_engine_model(cache_name, request):
    if cache_name != "locmem":
        request.getfixturevalue("redis_db")
    machine_for(cache_name).TestCase().runTest()

"""Race-freedom, proven with real threads on a real Redis (and on LocMem in one process).

Every thread waits on a barrier, so all calls hit the store at once.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import (
    CodeExpired,
    CodeMismatch,
    RateLimited,
    TooManyAttempts,
)
from tests.helpers import last_code, wrong_code

PHONE = "+8613800138000"

pytestmark = pytest.mark.usefixtures("store_cache")


def run_at_once(n, fn):
    """Run ``fn()`` in ``n`` threads released together; return the results or exceptions."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def kinds(results):
    return Counter(type(r).__name__ for r in results)


def test_50_concurrent_correct_checks_give_exactly_one_success():
    verification.send_code(PHONE, "register")
    code = last_code()
    results = run_at_once(50, lambda: verification.check_code(PHONE, code, "register"))
    assert kinds(results) == {"str": 1, "CodeExpired": 49}, kinds(results)
    assert all(isinstance(r, (str, CodeExpired)) for r in results)


def test_50_concurrent_sends_send_exactly_one_sms():
    results = run_at_once(50, lambda: verification.send_code(PHONE, "register"))
    assert len(django_smsverify.outbox) == 1
    assert kinds(results) == {"SendResult": 1, "RateLimited": 49}, kinds(results)
    assert all(r.retry_after >= 59 for r in results if isinstance(r, RateLimited))


def test_200_concurrent_wrong_guesses_evaluate_at_most_max_attempts():
    verification.send_code(PHONE, "register")
    code = last_code()
    bad = wrong_code(code)
    results = run_at_once(200, lambda: verification.check_code(PHONE, bad, "register"))
    mismatches = [r for r in results if isinstance(r, CodeMismatch)]
    locked = [r for r in results if isinstance(r, TooManyAttempts)]
    # MAX_ATTEMPTS = 5: four guesses answer "wrong, n left", the fifth locks; none beyond.
    assert sorted(r.attempts_left for r in mismatches) == [1, 2, 3, 4]
    assert len(locked) == 196, kinds(results)
    with pytest.raises(TooManyAttempts):
        verification.check_code(PHONE, code, "register")


def test_concurrent_sends_to_many_numbers_respect_the_ip_quota(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 10}}
    # Each in a block of its own, as real users' numbers are: the pumping
    # guard refuses a burst within one block.
    phones = [f"+86138{i:03d}{i:05d}" for i in range(40)]
    it = iter(phones)
    lock = threading.Lock()

    def send():
        with lock:
            phone = next(it)
        return verification.send_code(phone, "register", ip="203.0.113.9")

    results = run_at_once(40, send)
    assert kinds(results) == {"SendResult": 10, "RateLimited": 30}, kinds(results)
    assert len(django_smsverify.outbox) == 10

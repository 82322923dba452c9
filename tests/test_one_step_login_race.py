"""Twenty first logins of one new number racing with ``LOGIN_CREATES_USER``:
exactly one account, and every request logs into it. Runs on SQLite and, with
SMSVERIFY_TEST_DB=postgres (tox's postgres env), on PostgreSQL; the unique
constraint on the number decides, never a check-then-create in Python."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connections

from django_smsverify import signals, verification
from django_smsverify.forms import SmsLoginForm
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code

PHONE = "+8613800138000"
RACERS = 20

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("store_cache")]


def validated_login_forms(n):
    """n login forms for one unknown number, each validated with its own code
    (one code per cooldown, so the clock moves a minute between them)."""
    forms = []
    with time_machine.travel(0, tick=False) as clock:
        clock.move_to("2026-12-07 12:00:00Z")
        for _ in range(n):
            verification.send_code(PHONE, "login")
            form = SmsLoginForm({"phone": PHONE, "code": last_code()})
            assert form.is_valid(), form.errors
            forms.append(form)
            clock.shift(61)
    return forms


def test_concurrent_first_logins_create_one_user(settings):
    settings.SMSVERIFY = {
        "LOGIN_CREATES_USER": True,
        "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": None},
    }
    forms = validated_login_forms(RACERS)
    registered = []

    def on_registered(**kwargs):
        registered.append(kwargs["phone"])

    signals.user_registered.connect(on_registered, weak=False)
    barrier = threading.Barrier(RACERS)
    results: list[object] = [None] * RACERS

    def log_in(i):
        barrier.wait()
        try:
            results[i] = forms[i].get_user()
        except Exception as exc:  # pragma: no cover - would be the bug
            results[i] = exc
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=log_in, args=(i,)) for i in range(RACERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        signals.user_registered.disconnect(on_registered)

    errors = [r for r in results if isinstance(r, Exception) or r is None]
    assert errors == [], errors
    assert get_user_model().objects.count() == 1
    user = get_user_model().objects.get()
    assert {r.pk for r in results} == {user.pk}
    assert PhoneNumber.objects.get().user_id == user.pk
    assert sum(form.created for form in forms) == 1
    assert registered == [PHONE]
    print(f"{RACERS} concurrent first logins: 1 user created, {RACERS} logged in")

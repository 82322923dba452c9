"""Two registrations of one number racing: exactly one user, on every database.

The suite runs this file on SQLite and, with SMSVERIFY_TEST_DB=postgres (as
tox does), on PostgreSQL; the unique constraint on the number decides.
"""

from __future__ import annotations

import os
import threading

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, connections

from django_smsverify.forms import RegistrationForm
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("store_cache")]


def validated_forms(n):
    """n registration forms for one number, each validated with its own code."""
    from django_smsverify import verification

    forms = []
    with time_machine.travel(0, tick=False) as clock:
        clock.move_to("2026-11-21 12:00:00Z")
        for _ in range(n):
            verification.send_code(PHONE, "register")
            form = RegistrationForm(
                {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD}
            )
            assert form.is_valid(), form.errors
            forms.append(form)
            clock.shift(61)
    return forms


def test_two_concurrent_registrations_give_one_user():
    forms = validated_forms(2)
    barrier = threading.Barrier(2)
    results = [None, None]

    def save(i):
        barrier.wait()
        try:
            results[i] = forms[i].save()
        except Exception as exc:  # pragma: no cover - would be the bug
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    users = [r for r in results if r is not None and not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == [], errors
    assert len(users) == 1
    assert get_user_model().objects.count() == 1
    assert PhoneNumber.objects.get().number == PHONE
    loser = forms[results.index(None)]
    assert loser.errors["phone"] == ["This number is already registered. Log in instead."]


def test_runs_on_the_requested_database():
    expected = "postgresql" if os.environ.get("SMSVERIFY_TEST_DB") == "postgres" else "sqlite"
    assert connection.vendor == expected

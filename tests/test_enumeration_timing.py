"""With PREVENT_ENUMERATION on, send_code takes as long for a registered number
as for an unregistered one: the median gap stays under 10 ms.

Requests alternate between the two kinds so drift on the machine hits both
alike; every request uses a fresh number, so no cooldown interferes.
"""

from __future__ import annotations

import statistics
import time

import pytest
from django.contrib.auth import get_user_model

from django_smsverify.models import PhoneNumber

URL = "/accounts/phone/send-code/"
ROUNDS = 40

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def test_registered_and_unregistered_numbers_take_the_same_time(client, settings):
    settings.SMSVERIFY = {
        "CAPTCHA": False,
        "SEND_LIMITS": {"IP_PER_HOUR": None},
        # 90 numbers of two blocks: a pumping run, to the guard.
        "PUMPING_GUARD": False,
    }
    registered = [f"+861380013{i:04d}" for i in range(ROUNDS + 5)]
    unregistered = [f"+861390013{i:04d}" for i in range(ROUNDS + 5)]
    user_model = get_user_model()
    for phone in registered:
        PhoneNumber.objects.create(user=user_model.objects.create(username=phone), number=phone)

    def timed(phone):
        started = time.perf_counter()
        response = client.post(URL, {"phone": phone, "purpose": "register"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content
        return elapsed

    for i in range(5):  # warm-up: imports, connections, script loading
        timed(registered[ROUNDS + i])
        timed(unregistered[ROUNDS + i])
    times = {"registered": [], "unregistered": []}
    for i in range(ROUNDS):
        times["registered"].append(timed(registered[i]))
        times["unregistered"].append(timed(unregistered[i]))
    medians = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    gap = abs(medians["registered"] - medians["unregistered"])
    print(f"median send_code: {medians}; gap {gap:.2f} ms")
    assert gap < 10, medians

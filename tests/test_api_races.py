"""Races through the REST API, with real threads released together: the same
properties as the engine and the web flows (tests/test_races.py,
tests/test_registration_race.py), on LocMem and on a real Redis."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

import django_smsverify
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code
from tests.test_races import run_at_once

API = "/api/phone/"
PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"
N = 50

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("store_cache")]


def solved(api):
    key = api.get(API + "captcha/").json()["key"]
    return {"captcha_key": key, "captcha_answer": answer_for(key)}


def send_code(purpose):
    api = APIClient()
    data = {"phone": PHONE, "purpose": purpose, **solved(api)}
    assert api.post(API + "send-code/", data, format="json").status_code == 200
    return last_code()


def statuses(results):
    return Counter(r.status_code if hasattr(r, "status_code") else repr(r) for r in results)


def test_50_concurrent_logins_with_one_correct_code_give_one_success():
    user = get_user_model().objects.create_user(username=PHONE, password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    code = send_code("login")
    clients = iter([APIClient() for _ in range(N)])

    def login():
        return next(clients).post(API + "login/", {"phone": PHONE, "code": code}, format="json")

    results = run_at_once(N, login)
    assert statuses(results) == {200: 1, 400: N - 1}, statuses(results)
    losers = [r.json() for r in results if r.status_code == 400]
    assert all(list(body) == ["code"] for body in losers)


def test_50_concurrent_registrations_with_one_code_give_one_user():
    code = send_code("register")
    body = {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD}
    clients = iter([APIClient() for _ in range(N)])

    def register():
        return next(clients).post(API + "register/", body, format="json")

    results = run_at_once(N, register)
    assert statuses(results) == {201: 1, 400: N - 1}, statuses(results)
    assert get_user_model().objects.count() == 1
    assert PhoneNumber.objects.get().number == PHONE


def test_50_concurrent_sends_send_one_sms():
    prepared = []
    for i in range(N):
        # A client each (captcha creation is limited per client): what holds
        # the 49 others back is the number's cooldown.
        api = APIClient(REMOTE_ADDR=f"198.51.100.{i + 1}")
        prepared.append((api, {"phone": PHONE, "purpose": "register", **solved(api)}))
    requests = iter(prepared)

    def send():
        api, data = next(requests)
        return api.post(API + "send-code/", data, format="json")

    results = run_at_once(N, send)
    assert statuses(results) == {200: 1, 429: N - 1}, statuses(results)
    assert len(django_smsverify.outbox) == 1
    assert all(int(r["Retry-After"]) >= 59 for r in results if r.status_code == 429)

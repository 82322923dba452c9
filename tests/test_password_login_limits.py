"""Password login by number is limited per number and per client IP
(``PASSWORD_LOGIN_LIMITS``): past a limit the page and the API answer 429 with
Retry-After, even with the right password; a login that succeeds gives its
attempt back; concurrent guesses on a real Redis cannot get past a limit; a
store that is down answers 503."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from django_smsverify.models import PhoneNumber
from tests.conftest import DOWN_CACHE_CONFIGS

PHONE = "+8613800138000"
OTHER = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"
PAGE = "/accounts/phone/login/?method=password"
API = "/api/phone/login/password/"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("store_cache")]


def create_members() -> None:
    """Two users with numbers and a password (also for the suites that run
    these tests on other topologies)."""
    for number in (PHONE, OTHER):
        user = get_user_model().objects.create_user(username=number, password=PASSWORD)
        PhoneNumber.objects.create(user=user, number=number)


@pytest.fixture(autouse=True)
def members(db):
    create_members()


@pytest.fixture
def limits(settings):
    def set_limits(phone=None, ip=None):
        settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": phone, "IP_PER_HOUR": ip}}

    return set_limits


def login(client, phone=PHONE, password="wrong", ip="198.51.100.7"):
    return client.post(
        PAGE, {"method": "password", "phone": phone, "password": password}, REMOTE_ADDR=ip
    )


def test_page_refuses_the_right_password_once_the_number_is_limited(limits):
    limits(phone=3)
    client = Client()
    assert [login(client).status_code for _ in range(3)] == [400, 400, 400]
    refused = login(client, password=PASSWORD)
    assert refused.status_code == 429
    assert 3000 < int(refused["Retry-After"]) <= 3600
    assert "Too many requests" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # Per number: another number from the same IP is not held back.
    assert login(client, phone=OTHER, password=PASSWORD).status_code == 302


def test_a_successful_login_gives_its_attempt_back(limits):
    limits(phone=3)
    client = Client()
    assert login(client).status_code == 400
    assert login(client).status_code == 400
    assert login(client, password=PASSWORD).status_code == 302
    client.post("/accounts/phone/logout/")
    # Still two failures counted, not three: one more wrong password is checked.
    assert login(client).status_code == 400
    assert login(client).status_code == 429


def test_page_limits_per_ip_across_numbers(limits):
    limits(ip=4)
    client = Client()
    numbers = [PHONE, OTHER, "+8613700137000", "not a number"]
    assert [login(client, phone=n).status_code for n in numbers] == [400] * 4
    assert login(client, phone=PHONE, password=PASSWORD).status_code == 429
    # Another client IP has its own count.
    assert login(client, password=PASSWORD, ip="198.51.100.8").status_code == 302


def test_api_answers_429_with_retry_after(limits):
    limits(phone=2)
    api = APIClient()
    body = {"phone": PHONE, "password": "wrong"}
    assert [api.post(API, body, format="json").status_code for _ in range(2)] == [400, 400]
    refused = api.post(API, {"phone": PHONE, "password": PASSWORD}, format="json")
    assert refused.status_code == 429
    assert refused.json()["retry_after"] == int(refused["Retry-After"]) > 3000
    assert "token" not in refused.json()


def test_limits_off(limits):
    limits()
    client = Client()
    assert all(login(client).status_code == 400 for _ in range(60))
    assert login(client, password=PASSWORD).status_code == 302


def test_concurrent_guesses_cannot_get_past_the_limit(limits, store_cache):
    limits(phone=5)
    checked = []

    def count(sender, credentials, **kwargs):
        checked.append(1)

    user_login_failed.connect(count)
    barrier = threading.Barrier(20)
    statuses = [0] * 20

    def guess(i):
        barrier.wait()
        try:
            statuses[i] = login(Client(), password=f"wrong-{i}").status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        user_login_failed.disconnect(count)
    assert sorted(statuses) == [400] * 5 + [429] * 15, statuses
    # Only five passwords were ever checked.
    assert len(checked) == 5


@pytest.mark.parametrize("down", list(DOWN_CACHE_CONFIGS))
def test_store_down_is_503_and_nobody_logs_in(settings, down):
    settings.CACHES = {"default": DOWN_CACHE_CONFIGS[down]}
    client = Client()
    response = login(client, password=PASSWORD)
    assert response.status_code == 503
    assert "_auth_user_id" not in client.session
    api = APIClient()
    response = api.post(API, {"phone": PHONE, "password": PASSWORD}, format="json")
    assert response.status_code == 503


def test_store_counts_nothing_when_any_counter_is_full(store_cache, app_clock):
    # The times below are the app's own, given to the store.
    from django_smsverify.exceptions import RateLimited
    from django_smsverify.store import get_store
    from django_smsverify.store.base import Limit

    store, window = get_store(), 60_000
    full, free = Limit("t:full", 1, "phone_hour"), Limit("t:free", 1, "ip_hour")
    store.hit_many([full], window, 1_000)
    with pytest.raises(RateLimited) as refused:
        store.hit_many([free, full], window, 2_000)
    assert refused.value.scope == "phone_hour"
    assert refused.value.retry_after == 59
    store.hit_many([free], window, 3_000)  # "free" was not counted above
    with pytest.raises(RateLimited):
        store.hit_many([free], window, 4_000)


def test_store_refund_keeps_the_window(store_cache, app_clock):
    from django_smsverify.exceptions import RateLimited
    from django_smsverify.store import get_store
    from django_smsverify.store.base import Limit

    store, window = get_store(), 60_000
    counter = Limit("t:counter", 2, "phone_hour")
    store.hit_many([counter], window, 0)
    store.hit_many([counter], window, 1_000)
    store.refund([counter.key, "t:never-used"], 2_000)
    store.hit_many([counter], window, 3_000)
    with pytest.raises(RateLimited) as refused:
        store.hit_many([counter], window, 4_000)
    # The window still ends 60 s after the first use, not after the refund.
    assert refused.value.retry_after == 56


def test_a_number_that_cannot_exist_is_named_at_its_field_and_still_counted(limits):
    limits(ip=2)
    client = Client()
    page = login(client, phone="12345")
    assert page.status_code == 400
    form = page.context["form"]
    assert form.errors["phone"] == ["Enter a valid mobile phone number."]
    assert not form.non_field_errors()  # not "the number or the password is incorrect"
    api = APIClient(REMOTE_ADDR="198.51.100.7")
    answer = api.post(API, {"phone": "12345", "password": "wrong"}, format="json")
    assert answer.status_code == 400
    assert answer.json()["phone"] == ["Enter a valid mobile phone number."]
    # Both malformed tries counted against the client address.
    assert login(client, password=PASSWORD).status_code == 429

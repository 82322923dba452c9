"""Captcha creation is limited per client (``SMSVERIFY["CAPTCHA"]``
``CREATE_PER_MINUTE`` and ``CREATE_PER_HOUR``): past a limit the JSON endpoint
answers 429 with ``Retry-After`` and a JSON error, the pages show the message
instead of an image, never a 500; a store outage is 503; concurrent creations
on LocMem and a real Redis get exactly the limit through."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from django_smsverify import captcha
from django_smsverify.captcha.fields import CaptchaField
from django_smsverify.conf import app_settings
from tests.test_captcha import store_down  # noqa: F401 - fixture

URL = "/accounts/phone/captcha/"


def limits(settings, per_minute, per_hour) -> None:
    settings.SMSVERIFY = {"CAPTCHA": {"CREATE_PER_MINUTE": per_minute, "CREATE_PER_HOUR": per_hour}}


def test_defaults_are_far_above_what_a_person_reloading_needs():
    options = app_settings.CAPTCHA
    assert options.CREATE_PER_MINUTE == 30
    assert options.CREATE_PER_HOUR == 300


def test_past_the_minute_limit_the_endpoint_answers_429_with_retry_after(store_cache, settings):
    limits(settings, 3, 100)
    client = Client()
    with time_machine.travel(1_900_000_000, tick=False):
        for _ in range(3):
            assert client.get(URL).status_code == 200
        response = client.get(URL)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert 1 <= int(response["Retry-After"]) <= 60
    data = response.json()
    assert data["ok"] is False
    assert data["retry_after"] == int(response["Retry-After"])
    assert data["errors"]["__all__"][0].startswith("Too many requests.")
    assert "no-store" in response["Cache-Control"]
    # A minute later the same client may create again.
    with time_machine.travel(1_900_000_061, tick=False):
        assert client.get(URL).status_code == 200


def test_the_hour_limit_applies_across_minutes(store_cache, settings):
    limits(settings, 100, 4)
    client = Client()
    for minute in range(4):
        with time_machine.travel(1_900_000_000 + 61 * minute, tick=False):
            assert client.get(URL).status_code == 200
    with time_machine.travel(1_900_000_000 + 61 * 4, tick=False):
        response = client.get(URL)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 60


def test_a_refused_creation_is_not_counted_against_the_other_window(store_cache, settings):
    # Refused by the hour limit: the minute counter is given back, so the
    # minute budget is intact when the hour window reopens.
    limits(settings, 2, 1)
    client = Client()
    with time_machine.travel(1_900_000_000, tick=False):
        assert client.get(URL).status_code == 200
        assert client.get(URL).status_code == 429
        assert client.get(URL).status_code == 429
    with time_machine.travel(1_900_000_000 + 3601, tick=False):
        assert client.get(URL).status_code == 200


def test_clients_are_counted_apart_and_ipv6_by_prefix(store_cache, settings):
    limits(settings, 1, 100)
    assert Client(REMOTE_ADDR="192.0.2.1").get(URL).status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.1").get(URL).status_code == 429
    assert Client(REMOTE_ADDR="192.0.2.2").get(URL).status_code == 200
    assert Client(REMOTE_ADDR="2001:db8:1:1::1").get(URL).status_code == 200
    # Same /64: the same client.
    assert Client(REMOTE_ADDR="2001:db8:1:1::ffff").get(URL).status_code == 429
    assert Client(REMOTE_ADDR="2001:db8:1:2::1").get(URL).status_code == 200


def test_none_turns_a_limit_off(store_cache, settings):
    limits(settings, None, None)
    client = Client()
    for _ in range(40):
        assert client.get(URL).status_code == 200


def test_an_unknown_client_address_is_503_not_unlimited(store_cache, settings):
    limits(settings, 5, 100)
    response = Client(REMOTE_ADDR="").get(URL)
    assert response.status_code == 503
    assert response.json()["ok"] is False


def test_store_outage_is_503(store_down):  # noqa: F811
    response = Client().get(URL)
    assert response.status_code == 503
    assert response.json()["ok"] is False


def test_pages_count_too_and_show_the_message_instead_of_an_image(store_cache, settings):
    limits(settings, 2, 100)
    client = Client()
    with time_machine.travel(1_900_000_000, tick=False):
        for _ in range(2):
            page = client.get(reverse("smsverify:register"))
            assert page.status_code == 200
            assert b"smsverify-captcha-image" in page.content
        page = client.get(reverse("smsverify:register"))
        assert page.status_code == 200
        assert b"smsverify-captcha-image" not in page.content
        assert b"Too many requests." in page.content
        assert client.get(URL).status_code == 429


def test_a_form_field_without_a_request_is_not_limited(store_cache, settings):
    # A site's own form (CaptchaField() without a request) renders as before.
    limits(settings, 1, 1)

    class Form(__import__("django").forms.Form):
        captcha = CaptchaField()

    for _ in range(3):
        assert "smsverify-captcha-image" in str(Form())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("limit", [1, 7])
def test_concurrent_creations_get_exactly_the_limit_through(store_cache, settings, limit):
    limits(settings, limit, 1000)
    threads, statuses = 24, []
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def create() -> None:
        client = Client()
        barrier.wait()
        status = client.get(URL).status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=create) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(statuses) == [200] * limit + [429] * (threads - limit)


def test_new_challenge_without_a_client_is_not_limited(store_cache, settings):
    limits(settings, 1, 1)
    keys = {captcha.new_challenge().key for _ in range(3)}
    assert len(keys) == 3


def test_the_rest_endpoint_shares_the_limit(store_cache, settings):
    limits(settings, 2, 100)
    page, api = Client(), Client()
    with time_machine.travel(1_900_000_000, tick=False):
        assert page.get(URL).status_code == 200
        assert api.get("/api/phone/captcha/").status_code == 200
        # The same client, through either door, is now past its 2 a minute.
        response = api.get("/api/phone/captcha/")
        assert page.get(URL).status_code == 429
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["retry_after"] == int(response["Retry-After"])

"""The captcha HTTP endpoints: JSON shape, PNG, caching headers, 404s and 503s."""

from __future__ import annotations

import io
import json
import time

import pytest
import time_machine
from django.urls import reverse
from PIL import Image

from django_smsverify import captcha
from django_smsverify.captcha.challenge import answer_for
from tests.test_captcha import store_down  # noqa: F401 - fixture

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def get_challenge(client) -> dict:
    response = client.get(reverse("smsverify:captcha"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_urls_are_in_the_smsverify_namespace():
    assert reverse("smsverify:captcha") == "/accounts/phone/captcha/"
    key = "A" * 32
    assert reverse("smsverify:captcha_image", kwargs={"key": key}) == (
        f"/accounts/phone/captcha/{key}.png"
    )


def test_new_challenge_json(client, store_cache):
    response = client.get(reverse("smsverify:captcha"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert set(data) == {"ok", "key", "image_url", "image_url_2x", "expires_in"}
    assert data["ok"] is True
    assert data["image_url"] == reverse("smsverify:captcha_image", kwargs={"key": data["key"]})
    assert data["image_url_2x"] == data["image_url"] + "?scale=2"
    assert data["expires_in"] == 300
    assert captcha.is_live(data["key"])
    # The answer is nowhere in the reply.
    assert answer_for(data["key"]) not in response.content.decode()


def test_each_request_gives_a_new_challenge(client, store_cache):
    assert get_challenge(client)["key"] != get_challenge(client)["key"]


def test_image_is_a_png_that_must_not_be_stored(client, store_cache):
    data = get_challenge(client)
    response = client.get(data["image_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "no-store"
    assert response.content.startswith(PNG_MAGIC)
    assert Image.open(io.BytesIO(response.content)).size == (150, 50)


def test_2x_image_and_configured_size(client, store_cache, settings):
    settings.SMSVERIFY = {"CAPTCHA": {"WIDTH": 180, "HEIGHT": 60}}
    data = get_challenge(client)
    one = client.get(data["image_url"])
    two = client.get(data["image_url_2x"])
    assert Image.open(io.BytesIO(one.content)).size == (180, 60)
    assert Image.open(io.BytesIO(two.content)).size == (360, 120)


def test_image_does_not_consume_the_challenge_and_is_stable(client, store_cache):
    data = get_challenge(client)
    first = client.get(data["image_url"]).content
    assert client.get(data["image_url_2x"]).status_code == 200
    # Same key, same picture: asking again gives no new noise to average out.
    assert client.get(data["image_url"]).content == first
    assert captcha.verify(data["key"], answer_for(data["key"])) is True
    assert client.get(data["image_url"]).status_code == 404


@pytest.mark.parametrize("scale", ["0", "3", "2.0", "x", "-1", "\x00"])
def test_unknown_scale_is_404(client, store_cache, scale):
    data = get_challenge(client)
    response = client.get(data["image_url"], {"scale": scale})
    assert response.status_code == 404


def test_image_of_unknown_used_or_expired_key_is_404(client, store_cache):
    with time_machine.travel(time.time(), tick=False) as traveller:
        unknown = reverse("smsverify:captcha_image", kwargs={"key": "B" * 32})
        assert client.get(unknown).status_code == 404
        used = get_challenge(client)
        captcha.verify(used["key"], "WRONG")
        assert client.get(used["image_url"]).status_code == 404
        expired = get_challenge(client)
        traveller.shift(301)
        assert client.get(expired["image_url"]).status_code == 404


@pytest.mark.parametrize(
    "path_key",
    [
        "x" * 10_240,
        "%00" * 32,
        "AAAA%00AAAA",
        "%E4%B8%AD" * 32,
        "%FF%FE",
        "A" * 33,
        "..%2F..%2Fetc%2Fpasswd",
        "%20",
        "A" * 31 + ".png",
    ],
    ids=lambda k: k[:16],
)
def test_malformed_image_keys_are_404_never_500(client, store_cache, path_key):
    response = client.get(f"/accounts/phone/captcha/{path_key}.png")
    assert response.status_code == 404


def test_new_challenge_refuses_post(client, store_cache):
    assert client.post(reverse("smsverify:captcha")).status_code == 405


def test_new_challenge_is_404_when_the_captcha_is_off(client, store_cache, settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    assert client.get(reverse("smsverify:captcha")).status_code == 404


def test_store_outage_is_503_json(client, store_down):  # noqa: F811
    for url in (
        reverse("smsverify:captcha"),
        reverse("smsverify:captcha_image", kwargs={"key": "A" * 32}),
    ):
        response = client.get(url)
        assert response.status_code == 503
        data = json.loads(response.content)
        assert data["ok"] is False
        assert data["errors"]["__all__"] == [
            "The service is temporarily unavailable. Please try again shortly."
        ]
    # Garbage needs no store: still a plain 404.
    assert client.get("/accounts/phone/captcha/%00.png").status_code == 404

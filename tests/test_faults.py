"""Faults, injected for real: a private Redis server stopped or paused mid-run,
and a provider (the fake Ronglian server) answering 500 or too slowly.

In every case the client gets a clear 503, nothing is sent, no user is created,
and nothing is lost: the quota a failed send took is given back.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import pytest
import redis
from django.contrib.auth import get_user_model

import django_smsverify
from tests import fake_providers
from tests.fake_providers import RONGLIAN_ACCOUNT_SID, RONGLIAN_APP_ID, RONGLIAN_AUTH_TOKEN

ronglian_server = fake_providers.ronglian_server

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"
SEND = "/accounts/phone/send-code/"
REGISTER = "/accounts/phone/register/"
TIMEOUT = 0.5

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis(settings):
    """A redis-server of this test's own, which the test may stop or pause."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": TIMEOUT, "SOCKET_TIMEOUT": TIMEOUT},
        }
    }
    settings.SMSVERIFY = {"CAPTCHA": False}
    yield process, client
    process.kill()
    process.wait()
    client.close()


def send(client, phone=PHONE):
    return client.post(SEND, {"phone": phone, "purpose": "register"})


def register(client, code):
    return client.post(
        REGISTER, {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD}
    )


def test_redis_stopped_mid_run(client, private_redis):
    process, _ = private_redis
    assert send(client).status_code == 200
    code = django_smsverify.outbox[-1].params[0]
    process.kill()
    process.wait()

    response = send(client, "+8613900139000")
    assert response.status_code == 503
    assert response.json()["ok"] is False
    assert len(django_smsverify.outbox) == 1  # nothing more was sent

    page = register(client, code)
    assert page.status_code == 503
    assert not get_user_model().objects.exists()


def test_redis_slower_than_the_client_timeout(client, private_redis):
    _, admin = private_redis
    admin.execute_command("CLIENT", "PAUSE", 3000, "ALL")
    started = time.monotonic()
    response = send(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < TIMEOUT * 4, elapsed  # answered within the timeout, not after the pause
    assert django_smsverify.outbox == []


@pytest.fixture
def ronglian(settings, ronglian_server):
    settings.SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"
    settings.SMSVERIFY = {
        "CAPTCHA": False,
        "SEND_LIMITS": {"PHONE_PER_HOUR": 1},
        "RONGLIAN": {
            "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
            "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
            "APP_ID": RONGLIAN_APP_ID,
            "TEMPLATE_ID": "1",
            "BASE_URL": ronglian_server.url,
            "TIMEOUT": (1, 1),
        },
    }
    from django.core.cache import caches

    caches["default"].clear()
    return ronglian_server


def test_provider_failure_is_a_clear_503_and_loses_nothing(client, ronglian):
    from django_smsverify.models import SmsDelivery

    ronglian.reply("http500")
    response = send(client)
    assert response.status_code == 503
    body = response.json()
    assert body["errors"]["__all__"] == [
        "The text message could not be sent. Please try again later."
    ]
    failed = SmsDelivery.objects.get()
    assert failed.status == "failed"
    assert failed.transient is True

    # Nothing lost: the hourly quota of 1 and the cooldown were given back.
    ronglian.reply("success")
    retry = send(client)
    assert retry.status_code == 200, json.loads(retry.content)
    assert SmsDelivery.objects.filter(status="sent").count() == 1


def test_provider_timeout_answers_in_time_and_keeps_the_code(client, ronglian):
    from django_smsverify.models import SmsDelivery

    ronglian.reply("slow", delay=3)
    started = time.monotonic()
    response = send(client)
    assert time.monotonic() - started < 2.5  # the read timeout, not the provider, decides
    # The provider got the request and may still send it: the code stays
    # valid, and the answer says the SMS may still arrive.
    assert response.status_code == 200
    assert response.json()["delivery"] == "uncertain"
    failed = SmsDelivery.objects.get()
    assert failed.status == "failed"
    assert failed.transient is True
    # The quota and cooldown stay taken: the code in that SMS is the live one.
    assert send(client).status_code == 429

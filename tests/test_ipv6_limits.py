"""Per-client limits count an IPv6 client by its /64 (IPV6_PREFIX), not by the
address it happens to use: a penetration test sent 100 SMS from 100 addresses
of one /64 against a limit of 30 an hour."""

from __future__ import annotations

import ipaddress

import pytest

import django_smsverify
from django_smsverify import verification
from django_smsverify.client_ip import client_bucket
from django_smsverify.exceptions import RateLimited
from tests.helpers import solved_captcha

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]

NETWORK = ipaddress.IPv6Network("2001:db8:1:2::/64")


def addresses(n, network=NETWORK):
    """n different addresses of ``network``, spread over its host bits."""
    return [str(network[1 + i * 0x1_0000_0001]) for i in range(n)]


def numbers(n):
    # Each in a block of its own, as real users' numbers are: the pumping
    # guard (on by default) refuses bursts within one block.
    return [f"+86138{i:03d}{i:05d}" for i in range(n)]


def test_buckets():
    assert client_bucket("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_bucket("2001:DB8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert client_bucket("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_bucket("192.0.2.1") == "192.0.2.1"
    assert client_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_bucket("") is None
    assert client_bucket(None) is None


def test_one_slash_64_shares_the_send_quota(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 30}}
    sent = refused = 0
    for phone, ip in zip(numbers(100), addresses(100), strict=True):
        try:
            verification.send_code(phone, "register", ip=ip)
            sent += 1
        except RateLimited as exc:
            assert exc.scope == "ip_hour"
            refused += 1
    assert (sent, refused) == (30, 70)
    assert len(django_smsverify.outbox) == 30


def test_other_networks_and_ipv4_addresses_count_on_their_own(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 2}}
    phones = iter(numbers(20))
    for ip in addresses(2):
        verification.send_code(next(phones), "register", ip=ip)
    with pytest.raises(RateLimited):
        verification.send_code(next(phones), "register", ip=addresses(3)[2])
    # The neighbouring /64 and IPv4 clients are untouched.
    other = ipaddress.IPv6Network("2001:db8:1:3::/64")
    for ip in [*addresses(2, other), "192.0.2.1", "192.0.2.1", "192.0.2.2"]:
        verification.send_code(next(phones), "register", ip=ip)


def test_the_prefix_is_a_setting(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 1}, "IPV6_PREFIX": 128}
    for phone, ip in zip(numbers(5), addresses(5), strict=True):
        verification.send_code(phone, "register", ip=ip)  # exact addresses again


def test_page_sends_from_one_slash_64_are_limited(client, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 3}}
    statuses = []
    for phone, ip in zip(numbers(5), addresses(5), strict=True):
        response = client.post(
            "/accounts/phone/send-code/",
            {"phone": phone, "purpose": "register", **solved_captcha(client)},
            REMOTE_ADDR=ip,
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]


def test_password_login_ip_limit_groups_the_slash_64(client, settings):
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": None, "IP_PER_HOUR": 3}}
    statuses = [
        client.post(
            "/accounts/phone/login/",
            {"method": "password", "phone": phone, "password": "wrong-password"},
            REMOTE_ADDR=ip,
        ).status_code
        for phone, ip in zip(numbers(5), addresses(5), strict=True)
    ]
    assert statuses == [400, 400, 400, 429, 429]


def test_phone_status_limit_groups_the_slash_64(client, settings):
    settings.SMSVERIFY = {"PREVENT_ENUMERATION": False, "PHONE_STATUS_LIMIT": 3}
    statuses = [
        client.get("/accounts/phone/status/", {"phone": phone}, REMOTE_ADDR=ip).status_code
        for phone, ip in zip(numbers(5), addresses(5), strict=True)
    ]
    assert statuses == [200, 200, 200, 429, 429]

"""The user-field storage on the tutorial model: how numbers are written, which
spellings match, and that the PhoneNumber admin is hidden while it is in use."""

from __future__ import annotations

import pathlib
import re

import pytest
from django.contrib.auth import get_user_model

from django_smsverify.adapter import get_adapter
from django_smsverify.phone_storage import UserFieldPhoneStorage

pytestmark = pytest.mark.django_db

PASSWORD = "Tr1cky-horse-battery"


def make(username, mobile):
    return get_user_model().objects.create_user(username=username, mobile=mobile)


@pytest.mark.parametrize("stored", ["13800138000", "+8613800138000", "8613800138000"])
def test_every_common_spelling_in_the_column_matches(stored, settings):
    # last_name: the 11-character mobile column cannot hold the longer
    # spellings (PostgreSQL refuses them), a 150-character one can.
    settings.SMSVERIFY = {"USER_PHONE_FIELD": "last_name", "USER_PHONE_FORMAT": "e164"}
    user = get_user_model().objects.create_user(username="old", mobile="1", last_name=stored)
    adapter = get_adapter()
    assert adapter.get_user_by_phone("+8613800138000") == user
    assert adapter.is_registered("+8613800138000")
    assert adapter.get_phone(user) == "+8613800138000"
    assert not adapter.is_registered("+8613800138001")


def test_national_format_writes_national_digits_for_the_default_region(settings):
    storage = UserFieldPhoneStorage("mobile", "national")
    assert storage.stored("+8613800138000") == "13800138000"
    # A number of another region cannot be national digits of CN.
    assert storage.stored("+85251234567") == "+85251234567"
    assert UserFieldPhoneStorage("mobile", "e164").stored("+8613800138000") == "+8613800138000"


def test_changing_a_number_writes_the_column(settings):
    user = make("old", "13800138000")
    get_adapter().change_phone(None, user, "+8613900139000")
    user.refresh_from_db()
    assert user.mobile == "13900139000"


def test_a_row_that_holds_no_mobile_number_has_no_phone():
    assert get_adapter().get_phone(make("typo", "1380013800")) is None
    assert get_adapter().get_phone(make("empty", "")) is None


def test_phone_number_admin_is_hidden_with_the_user_field(client, settings):
    admin = get_user_model().objects.create_superuser(
        "admin", "a@example.com", PASSWORD, mobile="1"
    )
    client.force_login(admin)
    index = client.get("/admin/").content.decode()
    assert "/admin/django_smsverify/smsdelivery/" in index
    assert "/admin/django_smsverify/phonenumber/" not in index
    assert client.get("/admin/django_smsverify/phonenumber/").status_code == 403

    settings.SMSVERIFY = {}
    index = client.get("/admin/").content.decode()
    assert "/admin/django_smsverify/phonenumber/" in index
    assert client.get("/admin/django_smsverify/phonenumber/").status_code == 200


def test_nothing_outside_the_seam_reads_numbers_directly():
    """Views, forms, the REST API, admin, templates and the example ask the
    adapter; only phone_storage.py touches the PhoneNumber relation."""
    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for base in ("django_smsverify", "example_project"):
        for path in (root / base).rglob("*"):
            if path.suffix not in (".py", ".html") or "migrations" in path.parts:
                continue
            if path.name in ("phone_storage.py", "models.py"):
                continue
            if re.search(r"smsverify_phone\b", path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []

"""Checks of where numbers live (E009, W012, E006 for the format) and of what a
sign-up leaves empty (W011), on Django's own user model. The tutorial-style
model's cases are in tests/tutorialsite/test_checks.py."""

from __future__ import annotations

from django_smsverify.account_checks import check_new_user_fields, check_user_phone_field


def ids(messages):
    return [m.id for m in messages]


def test_default_settings_pass(settings):
    settings.SMSVERIFY = {}
    assert check_user_phone_field() == []
    assert check_new_user_fields() == []


def test_e009_field_missing_from_the_user_model(settings):
    settings.SMSVERIFY = {"USER_PHONE_FIELD": "mobile"}
    [error] = check_user_phone_field()
    assert error.id == "smsverify.E009"
    assert "'mobile', which is not a field of auth.User" in error.msg
    assert "PhoneNumber" in error.hint


def test_e009_field_that_is_not_text(settings):
    settings.SMSVERIFY = {"USER_PHONE_FIELD": "is_staff"}
    [error] = check_user_phone_field()
    assert error.id == "smsverify.E009"
    assert "BooleanField, not a CharField" in error.msg


def test_w012_field_that_is_not_unique(settings):
    settings.SMSVERIFY = {"USER_PHONE_FIELD": "first_name"}  # 150 characters, not unique
    [warning] = check_user_phone_field()
    assert warning.id == "smsverify.W012"
    assert "auth.User.first_name, which is not unique" in warning.msg
    assert "unique=True" in warning.hint


def test_e006_unknown_format(settings):
    settings.SMSVERIFY = {"USER_PHONE_FIELD": "username", "USER_PHONE_FORMAT": "digits"}
    [error] = check_user_phone_field()
    assert error.id == "smsverify.E006"
    assert "'e164' or 'national'" in error.msg


def test_w011_names_what_a_custom_adapter_leaves_empty(settings):
    settings.SMSVERIFY = {"ADAPTER": "tests.test_account_checks.NoUsernameAdapter"}
    [warning] = check_new_user_fields()
    assert warning.id == "smsverify.W011"
    assert "username (unique)" in warning.msg
    assert "new_user()" in warning.hint


def test_checks_run_with_manage_py_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SMSVERIFY = {"USER_PHONE_FIELD": "mobile"}
    try:
        call_command("check")
    except SystemCheckError as exc:
        assert "smsverify.E009" in str(exc)
    else:  # pragma: no cover - would be the bug
        raise AssertionError("manage.py check passed with a missing USER_PHONE_FIELD")


from django_smsverify.adapter import DefaultAdapter  # noqa: E402


class NoUsernameAdapter(DefaultAdapter):
    """An adapter that forgot the username."""

    def new_user(self, request, phone):
        from django.contrib.auth import get_user_model

        return get_user_model()()

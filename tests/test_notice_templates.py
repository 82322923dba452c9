"""Notice templates for the template providers: the system checks
``smsverify.E107``/``W107`` (Ronglian) and ``E118``/``W118`` (Tencent Cloud),
and the template a notice is sent with."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from django_smsverify.backends.templates import params_for, template_for
from django_smsverify.exceptions import SmsConfigurationError
from django_smsverify.message import SmsMessage

PROVIDERS = {
    "ronglian": (
        "RONGLIAN",
        "E107",
        "W107",
        {
            "ACCOUNT_SID": "8a216da8000000000000000000000001",
            "AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
            "APP_ID": "8a216da8000000000000000000000002",
            "TEMPLATE_ID": "1",
        },
    ),
    "tencent": (
        "TENCENT",
        "E118",
        "W118",
        {
            "SECRET_ID": "AKIDfakefakefakefakefakefakefakefake",
            "SECRET_KEY": "fakefakefakefakefakefakefakefake",
            "SDK_APP_ID": "1400000000",
            "SIGN_NAME": "测试签名",
            "TEMPLATE_ID": "1",
        },
    ),
}
ALL = {"registered": "2", "unregistered": "3", "phone_changed": "4"}


@pytest.fixture(params=list(PROVIDERS))
def provider(request, settings):
    block, error_id, warning_id, base = PROVIDERS[request.param]
    settings.SMS_BACKEND = f"django_smsverify.backends.{request.param}.SmsBackend"

    def configure(notices, **extra):
        raw = dict(base)
        if notices is not None:
            raw["NOTICE_TEMPLATE_ID"] = notices
        settings.SMSVERIFY = {block: raw, **extra}

    return configure, f"smsverify.{error_id}", f"smsverify.{warning_id}"


def found(check_id):
    return [m for m in run_checks() if m.id == check_id]


def test_every_notice_template_given_passes(provider):
    configure, error_id, warning_id = provider
    configure(ALL)
    assert found(error_id) == found(warning_id) == []


def test_one_template_for_every_notice_passes(provider):
    configure, error_id, warning_id = provider
    configure("2")
    assert found(error_id) == found(warning_id) == []


def test_missing_notice_templates_with_enumeration_prevented_is_an_error(provider):
    configure, error_id, _ = provider
    configure(None)  # PREVENT_ENUMERATION is on by default
    (error,) = found(error_id)
    assert "['NOTICE_TEMPLATE_ID'] is missing" in error.msg
    assert "'registered' and 'unregistered'" in error.msg
    assert error.hint


def test_missing_one_kind_names_it(provider):
    configure, error_id, _ = provider
    configure({"registered": "2", "phone_changed": "4"})
    (error,) = found(error_id)
    assert "has no template for the 'unregistered' notice" in error.msg


def test_without_enumeration_prevention_no_enumeration_notice_is_needed(provider):
    configure, error_id, warning_id = provider
    configure({"phone_changed": "4"}, PREVENT_ENUMERATION=False)
    assert found(error_id) == found(warning_id) == []


def test_unknown_kind_and_empty_id_are_errors(provider):
    configure, error_id, _ = provider
    configure({**ALL, "welcome": "5", "registered": " "})
    messages = sorted(m.msg for m in found(error_id))
    assert any("unknown notice kind 'welcome'" in m for m in messages)
    assert any("empty template id for 'registered'" in m for m in messages)


def test_no_phone_changed_template_is_a_warning(provider):
    configure, error_id, warning_id = provider
    configure({"registered": "2", "unregistered": "3"})
    assert found(error_id) == []
    (warning,) = found(warning_id)
    assert "'phone_changed'" in warning.msg


def test_other_backends_are_not_checked(settings):
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    settings.SMSVERIFY = {"RONGLIAN": {"NOTICE_TEMPLATE_ID": {"bogus": ""}}}
    ids = {m.id for m in run_checks()}
    assert not ids & {"smsverify.E107", "smsverify.W107", "smsverify.E118", "smsverify.W118"}


# Which template a message goes with -------------------------------------------


def notice(kind):
    return SmsMessage(to=["+8613800138000"], body="x", params=[], purpose=f"notice_{kind}")


def test_a_notice_never_uses_the_code_template():
    config = {"TEMPLATE_ID": "1", "NOTICE_TEMPLATE_ID": ALL}
    assert template_for(config, notice("registered"), "S") == "2"
    assert template_for(config, notice("phone_changed"), "S") == "4"
    assert params_for(config, notice("registered"), "p") == []
    with pytest.raises(SmsConfigurationError, match=r"NOTICE_TEMPLATE_ID.*'unregistered'"):
        template_for({"TEMPLATE_ID": "1"}, notice("unregistered"), "S")

"""``manage.py smsverify_sendtest PHONE``."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import django_smsverify
from tests import fake_providers
from tests.fake_providers import RONGLIAN_ACCOUNT_SID, RONGLIAN_APP_ID, RONGLIAN_AUTH_TOKEN

ronglian_server = fake_providers.ronglian_server


@pytest.fixture
def ronglian(settings, ronglian_server):
    settings.SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"
    settings.SMSVERIFY = {
        "RONGLIAN": {
            "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
            "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
            "APP_ID": RONGLIAN_APP_ID,
            "TEMPLATE_ID": {"login": "5", "register": "6"},
            "BASE_URL": ronglian_server.url,
            "TIMEOUT": 2,
        }
    }
    return ronglian_server


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("smsverify_sendtest", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_sends_through_the_configured_backend_and_normalises_the_number(settings):
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    output = run("138 0013 8000")
    (message,) = django_smsverify.outbox
    assert message.to == ["+8613800138000"]
    assert message.purpose == "login"
    code, minutes = message.params
    assert code.isdigit() and len(code) == 6
    assert minutes == "5"
    assert code not in message.body
    assert code not in output
    assert "+8613800138000" in output
    assert "Status: sent (provider: locmem" in output


def test_prints_the_provider_message_id_and_never_the_code_or_token(ronglian, capfd):
    output = run("+8613800138000", "--purpose", "register")
    (request,) = ronglian.requests
    assert request.verified
    assert request.json["templateId"] == "6"
    code = request.json["datas"][0]
    assert "Status: sent (provider: ronglian, message id: " in output
    assert "message id: -" not in output
    out, err = capfd.readouterr()
    for text in (output, out, err):
        assert code not in text
        assert RONGLIAN_AUTH_TOKEN not in text


def test_template_option_overrides_the_setting(ronglian):
    run("13800138000", "--template", "42")
    assert ronglian.requests[0].json["templateId"] == "42"


def test_failure_names_code_and_kind_and_fails(ronglian):
    ronglian.reply("error", "160038")
    with pytest.raises(CommandError) as excinfo:
        run("13800138000")
    text = str(excinfo.value)
    assert "ronglian error 160038 (transient" in text
    assert "too often" in text
    code = ronglian.requests[0].json["datas"][0]
    assert code not in text


def test_permanent_failure(ronglian):
    ronglian.reply("error", "112310")
    with pytest.raises(CommandError, match=r"112310 \(permanent\)"):
        run("13800138000")


def test_configuration_error_fails(ronglian, settings):
    settings.SMSVERIFY = {"RONGLIAN": {"ACCOUNT_SID": "x"}}
    with pytest.raises(CommandError, match=r"\['AUTH_TOKEN'\] is missing"):
        run("13800138000")
    assert ronglian.requests == []


def test_invalid_phone_fails_without_sending(settings):
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    with pytest.raises(CommandError, match="valid mobile"):
        run("12345")
    assert django_smsverify.outbox == []


def test_exit_status_is_non_zero_on_failure(tmp_path):
    # Through manage.py for real: CommandError must become exit status 1.
    root = Path(__file__).resolve().parent.parent
    settings_module = tmp_path / "sendtest_settings.py"
    settings_module.write_text(
        "from tests.settings import *  # noqa: F403\n"
        "SMS_BACKEND = 'django_smsverify.backends.ronglian.SmsBackend'\n"
        "SMSVERIFY = {'RONGLIAN': {}}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django.core.management as m; m.execute_from_command_line()",
            "smsverify_sendtest",
            "13800138000",
        ],
        cwd=root,
        env={
            "PATH": "",
            "PYTHONPATH": f"{root}{':'}{tmp_path}",
            "DJANGO_SETTINGS_MODULE": "sendtest_settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "SMSVERIFY['RONGLIAN']['ACCOUNT_SID'] is missing" in result.stderr

"""Credentials in URLs never reach a log record (issue 18, point 6).

urllib3 logs each request line at DEBUG; Ronglian's request line carries its
``sig`` query parameter. The backends install a redacting filter on urllib3's
loggers when they are imported.
"""

from __future__ import annotations

import logging

import pytest

from django_smsverify.backends import ronglian
from django_smsverify.backends.redact import (
    REDACTED,
    RedactUrlCredentials,
    redact_url_credentials,
)
from django_smsverify.message import SmsMessage
from tests import fake_providers
from tests.fake_providers import RONGLIAN_ACCOUNT_SID, RONGLIAN_APP_ID, RONGLIAN_AUTH_TOKEN

ronglian_server = fake_providers.ronglian_server


def test_ronglian_sig_is_not_in_any_urllib3_record(settings, ronglian_server, caplog):
    settings.SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"
    settings.SMSVERIFY = {
        "RONGLIAN": {
            "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
            "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
            "APP_ID": RONGLIAN_APP_ID,
            "TEMPLATE_ID": "1",
            "BASE_URL": ronglian_server.url,
            "TIMEOUT": 2,
        }
    }
    caplog.set_level(logging.DEBUG, logger="urllib3")
    message = SmsMessage(["+8613800138000"], params=["482913", "5"], purpose="register")
    assert ronglian.SmsBackend().send_messages([message]) == 1

    (request,) = ronglian_server.requests
    assert request.verified
    sig = request.path.split("sig=", 1)[1]
    assert len(sig) == 32
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    # The request line is still logged (useful when debugging), without the value.
    assert any(f"sig={REDACTED}" in line for line in lines), lines
    assert not [line for line in lines if sig in line]
    assert sig not in caplog.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/a?sig=ABC123&x=1", f"/a?sig={REDACTED}&x=1"),
        ("/a?x=1&Signature=abc%2Bd", f"/a?x=1&Signature={REDACTED}"),
        ("/?AccessKeyId=LTAI5t&Action=SendSms", f"/?AccessKeyId={REDACTED}&Action=SendSms"),
        ("/cb?token=t0k3n HTTP/1.1", f"/cb?token={REDACTED} HTTP/1.1"),
        (
            "/?TemplateParam=%7B%22code%22%3A%22482913%22%7D&SignName=x",
            f"/?TemplateParam={REDACTED}&SignName=x",
        ),
        ("/a?design=keep&signed=keep", "/a?design=keep&signed=keep"),
    ],
)
def test_credential_query_values_are_replaced(url, expected):
    assert redact_url_credentials(url) == expected


def test_filter_rewrites_a_urllib3_style_record():
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s://%s:%s "%s %s %s" %s %s',
        ("http", "127.0.0.1", 8883, "POST", "/x?sig=DEADBEEF", "HTTP/1.1", 200, 10),
        None,
    )
    assert RedactUrlCredentials().filter(record) is True
    assert "DEADBEEF" not in record.getMessage()
    assert f"/x?sig={REDACTED}" in record.getMessage()

"""Logging filters that keep provider credentials out of log records.

HTTP clients log request lines at DEBUG: urllib3 writes
``POST /2013-12-26/Accounts/…/SMS/TemplateSMS?sig=… HTTP/1.1``, so Ronglian's
signature (valid until the timestamp expires), Aliyun's ``TemplateParam``
(which holds the verification code) or any ``token=`` in a URL would reach
every site that logs at DEBUG. The provider backends install
:class:`RedactUrlCredentials` on urllib3's loggers when they are imported.
"""

from __future__ import annotations

import logging
import re

#: Query parameters whose values never reach a log record (case-insensitive).
SECRET_QUERY_PARAMETERS: tuple[str, ...] = (
    "sig",
    "signature",
    "accesskeyid",
    "accesskeysecret",
    "securitytoken",
    "token",
    "access_token",
    "auth_token",
    "password",
    # Aliyun sends the template values (the verification code) in the query.
    "templateparam",
)

REDACTED = "[redacted]"

_PARAMETER = re.compile(
    r"(?P<name>[?&](?:%s)=)[^&\s\"'#]*" % "|".join(SECRET_QUERY_PARAMETERS),
    re.IGNORECASE,
)

#: urllib3 loggers that put request URLs in their records. A filter on a
#: logger only sees the records created on that very logger, so each one
#: needs its own.
URL_LOGGERS: tuple[str, ...] = (
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)


def redact_url_credentials(text: str) -> str:
    """``text`` with the value of every credential-looking query parameter replaced."""
    return _PARAMETER.sub(lambda match: match["name"] + REDACTED, text)


class RedactUrlCredentials(logging.Filter):
    """Rewrite a record whose message holds a URL with a credential in its query.

    The record is kept (the request line is useful when debugging), with the
    secret values replaced by ``[redacted]``.
    """

    smsverify = True

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = redact_url_credentials(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install_url_redaction() -> None:
    """Add :class:`RedactUrlCredentials` to urllib3's loggers, once per logger."""
    for name in URL_LOGGERS:
        url_logger = logging.getLogger(name)
        if not any(isinstance(f, RedactUrlCredentials) for f in url_logger.filters):
            url_logger.addFilter(RedactUrlCredentials())


class DropDebugRecords(logging.Filter):
    """Drop a logger's DEBUG records (for SDK loggers that dump whole requests).

    A filter on the logger (rather than a level) holds even when a ``LOGGING``
    dict later sets the logger's level to DEBUG.
    """

    smsverify = True

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def install_debug_drop(name: str) -> None:
    """Add :class:`DropDebugRecords` to the logger ``name``, once."""
    sdk_logger = logging.getLogger(name)
    if not any(isinstance(f, DropDebugRecords) for f in sdk_logger.filters):
        sdk_logger.addFilter(DropDebugRecords())

"""A fake Aliyun SMS server (Dysmsapi 2017-05-25, ``SendSms`` only) on 127.0.0.1.

It checks each request the way Aliyun's gateway does for the ACS3-HMAC-SHA256
scheme the SDK (``alibabacloud-tea-openapi`` 0.4) signs with, written here from
the scheme's definition rather than by calling the SDK's signer:

- ``Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2>,
  Signature=<hex>``;
- ``x-acs-content-sha256`` is the hex SHA-256 of the body;
- the canonical request is ``METHOD\\nURI\\nQUERY\\nHEADERS\\nSIGNED_HEADERS\\nPAYLOAD_HASH``,
  with the query's names and values RFC 3986 percent-encoded and sorted, and
  each signed header as ``lowercase-name:trimmed-value\\n``;
- the signature is ``hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\\n" +
  hex(SHA-256(canonical request))))``;
- ``x-acs-date`` within 15 minutes of the fake's clock, and each
  ``x-acs-signature-nonce`` used once.

A failed check gets Aliyun's error reply (HTTP 400 ``SignatureDoesNotMatch``,
404 ``InvalidAccessKeyId.NotFound``...). Then ``SendSms`` itself: ``PhoneNumbers``
must be digits only (mainland numbers without 86, others with the country code
and no ``+``), ``TemplateCode`` like ``SMS_123``, ``TemplateParam`` (when
given) a JSON object of strings.

Answers are chosen with :meth:`FakeAliyun.reply` as for the other fakes
(``"ok"``, ``"error"`` with a code, ``"slow"``, ``"http500"``, ``"malformed"``,
``"drop"``) plus ``"http504"`` (a gateway's HTML timeout page). An error code
gets the HTTP status Aliyun answers it with (:data:`HTTP_STATUS`): ``isv.*``
business errors come with HTTP 200.

Only made-up credentials appear here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from tests.fake_providers import FakeServer, Received, _dumps, _no_proxy_env

ALIYUN_ACCESS_KEY_ID = "LTAI5tFAKEaccessKeyId0001"
ALIYUN_ACCESS_KEY_SECRET = "fake0aliyun0secret0abcdef123456"
ALIYUN_SIGN_NAME = "测试签名"

ALGORITHM = "ACS3-HMAC-SHA256"
#: How far ``x-acs-date`` may be from the fake's clock, in seconds.
CLOCK_WINDOW = 900

#: HTTP status Aliyun answers an error code with; ``isv.*`` codes come with 200.
HTTP_STATUS: dict[str, int] = {
    "SignatureDoesNotMatch": 400,
    "IncompleteSignature": 400,
    "InvalidTimeStamp.Expired": 400,
    "SignatureNonceUsed": 400,
    "MissingParameter": 400,
    "InvalidAccessKeyId.NotFound": 404,
    "Forbidden.RAM": 403,
    "Throttling": 400,
    "Throttling.User": 400,
    "Throttling.Api": 400,
    "InternalError": 500,
    "ServiceUnavailable": 503,
}

_AUTHORIZATION = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=(?P<key>[^,]+),SignedHeaders=(?P<signed>[^,]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
#: Headers every request must sign.
REQUIRED_SIGNED = {
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
}


def query_of(received: Received) -> dict[str, str]:
    """The decoded query parameters of a request (where ``SendSms`` puts its own)."""
    return dict(parse_qsl(urlsplit(received.path).query, keep_blank_values=True))


def _encode(text: str) -> str:
    # RFC 3986: only unreserved characters stay as they are.
    return quote(text, safe="-_.~")


def canonical_request(received: Received, signed_headers: list[str]) -> str:
    """The ACS3 canonical request of ``received``, over ``signed_headers``."""
    parts = urlsplit(received.path)
    pairs = sorted(
        (_encode(name), _encode(value))
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    query = "&".join(f"{name}={value}" for name, value in pairs)
    headers = {name.lower(): value for name, value in received.headers.items()}
    canonical_headers = "".join(
        f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers
    )
    payload_hash = headers.get("x-acs-content-sha256", "")
    return "\n".join(
        [
            received.method,
            parts.path or "/",
            query,
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def expected_signature(secret: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    to_sign = f"{ALGORITHM}\n{digest}"
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class FakeAliyun(FakeServer):
    """Aliyun Dysmsapi 2017-05-25, ``SendSms`` only."""

    keys = {ALIYUN_ACCESS_KEY_ID: ALIYUN_ACCESS_KEY_SECRET}

    def __init__(self) -> None:
        super().__init__()
        self.nonces: set[str] = set()

    def answer(self, received: Received) -> tuple[int, str, bytes]:
        if self.mode == "http504":
            failure = self.verify(received)
            if failure is not None:
                return self.error_reply(failure)
            return 504, "text/html", b"<html><body>504 Gateway Time-out</body></html>"
        return super().answer(received)

    def verify(self, received: Received) -> str | None:
        headers = {name.lower(): value for name, value in received.headers.items()}
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if match is None:
            received.problems.append("authorization")
            return "IncompleteSignature"
        signed = match["signed"].split(";")
        if signed != sorted(signed) or not set(signed) >= REQUIRED_SIGNED:
            received.problems.append("signed-headers")
            return "IncompleteSignature"
        secret = self.keys.get(match["key"])
        if secret is None:
            received.problems.append("access-key-id")
            return "InvalidAccessKeyId.NotFound"
        if headers.get("x-acs-content-sha256") != hashlib.sha256(received.body).hexdigest():
            received.problems.append("content-sha256")
            return "SignatureDoesNotMatch"
        expected = expected_signature(secret, canonical_request(received, signed))
        if not hmac.compare_digest(expected, match["signature"]):
            received.problems.append("signature")
            return "SignatureDoesNotMatch"
        try:
            signed_at = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            received.problems.append("date-format")
            return "InvalidTimeStamp.Expired"
        skew = abs(datetime.now(timezone.utc) - signed_at.replace(tzinfo=timezone.utc))
        if skew.total_seconds() > CLOCK_WINDOW:
            received.problems.append("date-window")
            return "InvalidTimeStamp.Expired"
        nonce = headers["x-acs-signature-nonce"]
        with self.lock:
            if nonce in self.nonces:
                received.problems.append("nonce")
                return "SignatureNonceUsed"
            self.nonces.add(nonce)
        if (headers.get("x-acs-action"), headers.get("x-acs-version")) != (
            "SendSms",
            "2017-05-25",
        ):
            received.problems.append("action")
            return "MissingParameter"
        query = query_of(received)
        if not all(query.get(name) for name in ("PhoneNumbers", "SignName", "TemplateCode")):
            received.problems.append("parameters")
            return "MissingParameter"
        if not all(n.isdigit() and 5 <= len(n) <= 15 for n in query["PhoneNumbers"].split(",")):
            received.problems.append("phone-numbers")
            return "isv.MOBILE_NUMBER_ILLEGAL"
        if not re.fullmatch(r"SMS_\d+", query["TemplateCode"]):
            received.problems.append("template-code")
            return "isv.SMS_TEMPLATE_ILLEGAL"
        if "TemplateParam" in query:
            try:
                values = json.loads(query["TemplateParam"])
            except ValueError:
                values = None
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                received.problems.append("template-param")
                return "isv.INVALID_JSON_PARAM"
        return None

    def success_reply(self, received: Received) -> tuple[int, str, bytes]:
        payload = {
            "Code": "OK",
            "Message": "OK",
            "BizId": f"{int(time.time() * 1000)}^0",
            "RequestId": str(uuid.uuid4()).upper(),
        }
        return 200, "application/json;charset=utf-8", _dumps(payload)

    def error_reply(self, code: str) -> tuple[int, str, bytes]:
        status = HTTP_STATUS.get(code, 200 if code.startswith(("isv.", "isp.")) else 400)
        payload: dict[str, Any] = {
            "RequestId": str(uuid.uuid4()).upper(),
            "Code": code,
            "Message": f"fake error {code}",
        }
        if status != 200:
            payload["HostId"] = "dysmsapi.aliyuncs.com"
            payload["Recommend"] = "https://api.aliyun.com/troubleshoot"
        return status, "application/json;charset=utf-8", _dumps(payload)


@pytest.fixture
def aliyun_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAliyun]:
    """A running :class:`FakeAliyun`."""
    _no_proxy_env(monkeypatch)
    server = FakeAliyun()
    yield server
    server.stop()

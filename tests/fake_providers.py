"""Fake Ronglian and Tencent Cloud SMS servers on 127.0.0.1, as pytest fixtures.

Each fake checks every request the way the real service does (Ronglian's MD5
``sig`` and ``Authorization`` header against Beijing time; Tencent Cloud's
TC3-HMAC-SHA256 signature, recomputed from the received headers and body with
the fake secret key) and answers with the real error code when a check fails.
Tests choose the answer with :meth:`FakeServer.reply`: ``"ok"``, ``"error"``
(with a provider ``code``), ``"slow"`` (answers after ``delay`` seconds),
``"http500"``, ``"malformed"``, ``"drop"`` (reads the request, then closes the
connection without an answer) and, for Tencent, ``"charset_error"`` (an error
body sent as ``application/json; charset=utf-8``).

Only made-up credentials appear here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest

RONGLIAN_ACCOUNT_SID = "8a216da8FAKEACC0000000000000001"
RONGLIAN_AUTH_TOKEN = "fake0auth0token0abcdef1234567890"
RONGLIAN_APP_ID = "8a216da8FAKEAPP0000000000000001"

TENCENT_SECRET_ID = "AKIDfake0secret0id0000000000000001"
TENCENT_SECRET_KEY = "fake0secret0key0abcdef1234567890"
TENCENT_SDK_APP_ID = "1400006666"

#: How far a signed timestamp may be from the fake's clock, in seconds.
CLOCK_WINDOW = 300

BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: Empty when every check passed, else what failed (e.g. ``"sig"``).
    problems: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def verified(self) -> bool:
        return not self.problems


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so no idle keep-alive socket
    # outlives a test (an unclosed socket is an error under -W error).
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        received = Received("POST", self.path, dict(self.headers.items()), body)
        fake = self.server.fake
        with fake.lock:
            fake.requests.append(received)
        if fake.mode == "drop":
            # Read the request, then hang up without a word: the client cannot
            # know whether the SMS went out.
            self.close_connection = True
            return
        try:
            status, content_type, payload = fake.answer(received)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line carries Ronglian's sig; keep test output quiet


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and closed the socket is expected


class FakeServer:
    """A provider fake on 127.0.0.1, on a free port, serving from a thread."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.mode = "ok"
        self.code = ""
        self.delay = 0.0
        self._release = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        # A short poll interval keeps shutdown() (one per test) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def reply(self, mode: str, code: str = "", delay: float = 2.0) -> None:
        """Choose the answer to the next requests (see the module docstring)."""
        self.mode, self.code, self.delay = mode, code, delay

    def stop(self) -> None:
        self._release.set()  # wake any "slow" handler still waiting
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, received: Received) -> tuple[int, str, bytes]:
        failure = self.verify(received)
        if failure is not None:
            return self.error_reply(failure)
        if self.mode == "slow":
            self._release.wait(self.delay)
            return self.success_reply(received)
        if self.mode == "http500":
            return 500, "text/html", b"<html><body>500 Internal Server Error</body></html>"
        if self.mode == "malformed":
            return 200, "application/json", b"<html>this is not json"
        if self.mode == "error":
            return self.error_reply(self.code)
        return self.success_reply(received)

    # Provider-specific parts.
    def verify(self, received: Received) -> str | None:
        raise NotImplementedError

    def success_reply(self, received: Received) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def error_reply(self, code: str) -> tuple[int, str, bytes]:
        raise NotImplementedError


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


class FakeRonglian(FakeServer):
    """Ronglian REST API 2013-12-26, ``SMS/TemplateSMS`` only."""

    accounts = {RONGLIAN_ACCOUNT_SID: RONGLIAN_AUTH_TOKEN}
    apps = {RONGLIAN_APP_ID}
    _path = re.compile(
        r"^/2013-12-26/Accounts/(?P<sid>[^/?]+)/SMS/TemplateSMS\?sig=(?P<sig>[0-9A-Fa-f]*)$"
    )

    def verify(self, received: Received) -> str | None:
        match = self._path.match(received.path)
        if match is None:
            received.problems.append("path")
            return "111100"
        sid, sig = match["sid"], match["sig"]
        try:
            plain = base64.b64decode(received.headers.get("Authorization", ""), validate=True)
            auth_sid, timestamp = plain.decode("utf-8").split(":", 1)
        except ValueError:
            received.problems.append("authorization")
            return "111102"
        if auth_sid != sid:
            received.problems.append("authorization-sid")
            return "111104"
        try:
            signed_at = datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
        except ValueError:
            received.problems.append("timestamp-format")
            return "111113"
        if abs((datetime.now(BEIJING) - signed_at).total_seconds()) > CLOCK_WINDOW:
            received.problems.append("timestamp-window")
            return "111106"
        token = self.accounts.get(sid)
        if token is None:
            received.problems.append("account")
            return "111141"
        expected = hashlib.md5(f"{sid}{token}{timestamp}".encode()).hexdigest().upper()  # noqa: S324
        if not hmac.compare_digest(expected, sig):
            received.problems.append("sig")
            return "111109"
        if not received.headers.get("Content-Type", "").startswith("application/json"):
            received.problems.append("content-type")
            return "160031"
        try:
            body = received.json
        except ValueError:
            received.problems.append("body")
            return "160031"
        if set(body) != {"to", "appId", "templateId", "datas"}:
            received.problems.append("body-keys")
            return "160031"
        if body["appId"] not in self.apps:
            received.problems.append("app")
            return "111181"
        if not isinstance(body["datas"], list) or not all(
            isinstance(d, str) for d in body["datas"]
        ):
            received.problems.append("datas")
            return "160031"
        if not isinstance(body["to"], str) or not body["to"]:
            received.problems.append("to")
            return "112306"
        return None

    def success_reply(self, received: Received) -> tuple[int, str, bytes]:
        now = datetime.now(BEIJING).strftime("%Y%m%d%H%M%S")
        sid = uuid.uuid4().hex
        payload = {
            "statusCode": "000000",
            "templateSMS": {"dateCreated": now, "smsMessageSid": sid},
        }
        return 200, "application/json;charset=utf-8", _dumps(payload)

    def error_reply(self, code: str) -> tuple[int, str, bytes]:
        payload = {"statusCode": code, "statusMsg": f"fake error {code}"}
        return 200, "application/json;charset=utf-8", _dumps(payload)


class FakeTencent(FakeServer):
    """Tencent Cloud SMS API 2021-01-11, ``SendSms`` only.

    ``number_codes`` maps an E.164 number to the per-number ``Code`` it gets
    in an ``"ok"`` reply (default ``"Ok"``).
    """

    keys = {TENCENT_SECRET_ID: TENCENT_SECRET_KEY}
    apps = {TENCENT_SDK_APP_ID}
    _auth = re.compile(
        r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)"
        r"/tc3_request, SignedHeaders=(?P<signed>[a-z;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
    )

    def __init__(self) -> None:
        super().__init__()
        self.number_codes: dict[str, str] = {}

    def answer(self, received: Received) -> tuple[int, str, bytes]:
        if self.mode == "charset_error":
            failure = self.verify(received)
            status, _, payload = self.error_reply(failure or self.code)
            return status, "application/json; charset=utf-8", payload
        return super().answer(received)

    def verify(self, received: Received) -> str | None:
        headers = {key.lower(): value for key, value in received.headers.items()}
        if received.path != "/":
            received.problems.append("path")
            return "InvalidAction"
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            received.problems.append("action")
            return "InvalidAction"
        if not headers.get("x-tc-region"):
            received.problems.append("region")
            return "MissingParameter"
        match = self._auth.match(headers.get("authorization", ""))
        if match is None or match["signed"] != "content-type;host" or match["service"] != "sms":
            received.problems.append("authorization")
            return "AuthFailure.InvalidAuthorization"
        key = self.keys.get(match["id"])
        if key is None:
            received.problems.append("secret-id")
            return "AuthFailure.SecretIdNotFound"
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            received.problems.append("timestamp")
            return "AuthFailure.SignatureFailure"
        now = datetime.now(timezone.utc).timestamp()
        if abs(now - timestamp) > CLOCK_WINDOW:
            received.problems.append("timestamp-window")
            return "AuthFailure.SignatureExpire"
        date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
        if match["date"] != date:
            received.problems.append("date")
            return "AuthFailure.SignatureFailure"
        canonical = "\n".join(
            [
                "POST",
                "/",
                "",
                f"content-type:{headers.get('content-type', '')}\nhost:{headers.get('host', '')}\n",
                "content-type;host",
                hashlib.sha256(received.body).hexdigest(),
            ]
        )
        string_to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                str(timestamp),
                f"{date}/sms/tc3_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        signing_key = ("TC3" + key).encode()
        for part in (date, "sms", "tc3_request"):
            signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["signature"]):
            received.problems.append("signature")
            return "AuthFailure.SignatureFailure"
        try:
            body = received.json
        except ValueError:
            received.problems.append("body")
            return "FailedOperation.JsonParseFail"
        if body.get("SmsSdkAppId") not in self.apps:
            received.problems.append("app")
            return "InvalidParameterValue.SdkAppIdNotExist"
        numbers = body.get("PhoneNumberSet")
        if not isinstance(numbers, list) or not numbers:
            received.problems.append("numbers")
            return "MissingParameter.EmptyPhoneNumberSet"
        if not body.get("TemplateId"):
            received.problems.append("template")
            return "MissingParameter"
        return None

    def success_reply(self, received: Received) -> tuple[int, str, bytes]:
        statuses = []
        for number in received.json["PhoneNumberSet"]:
            code = self.number_codes.get(number, "Ok")
            statuses.append(
                {
                    "SerialNo": f"2433:{uuid.uuid4().int % 10**20}" if code == "Ok" else "",
                    "PhoneNumber": number,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": "",
                    "Code": code,
                    "Message": "send success" if code == "Ok" else f"fake refusal {code}",
                    "IsoCode": "CN" if number.startswith("+86") else "",
                }
            )
        payload = {"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}}
        return 200, "application/json", _dumps(payload)

    def error_reply(self, code: str) -> tuple[int, str, bytes]:
        payload = {
            "Response": {
                "Error": {"Code": code, "Message": f"fake error {code}"},
                "RequestId": str(uuid.uuid4()),
            }
        }
        return 200, "application/json", _dumps(payload)


def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's proxy settings must not route loopback test traffic.
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ronglian_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRonglian]:
    """A running :class:`FakeRonglian`."""
    _no_proxy_env(monkeypatch)
    server = FakeRonglian()
    yield server
    server.stop()


@pytest.fixture
def tencent_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTencent]:
    """A running :class:`FakeTencent`."""
    _no_proxy_env(monkeypatch)
    server = FakeTencent()
    yield server
    server.stop()

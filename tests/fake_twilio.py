"""A fake Twilio Messages API on 127.0.0.1, as a pytest fixture.

It answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` the way
Twilio does: HTTP Basic auth must be exactly ``AccountSid:AuthToken`` as the
SDK sends it (else 401 with error 20003), the form body must hold ``To``,
``Body`` and exactly one of ``From`` and ``MessagingServiceSid`` (else 400
with Twilio's code), and a good request gets 201 with a Message resource.

Tests choose the answer with :meth:`FakeTwilio.reply`: ``"ok"``, ``"error"``
(with a Twilio ``code``, answered with that code's HTTP status and Twilio's
error JSON), ``"slow"`` (answers after ``delay`` seconds), ``"http500"``,
``"http504"`` (HTML bodies, as a load balancer sends them), ``"malformed"``
(201 with a body that is not JSON), ``"failed"`` (201 with a Message whose
status is already ``failed`` with error ``code``) and ``"drop"`` (reads the request, then
closes the connection without an answer). ``number_codes`` refuses single
numbers with a code.

Only made-up credentials appear here.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from urllib.parse import parse_qs

import pytest

from tests.fake_providers import FakeServer, Received, _no_proxy_env

TWILIO_ACCOUNT_SID = "AC" + "fa4e" * 8
TWILIO_AUTH_TOKEN = "fake0twilio0token0abcdef12345678"
TWILIO_FROM = "+15005550006"
TWILIO_MESSAGING_SERVICE_SID = "MG" + "5e7c" * 8

#: Twilio error codes the fake can answer: code -> (HTTP status, Twilio's message).
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "Invalid 'To' Phone Number"),
    21212: (400, "Invalid 'From' Number"),
    21408: (400, "Permission to send an SMS has not been enabled for the region"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required"),
    21604: (400, "A 'To' phone number is required."),
    21606: (400, "The 'From' phone number provided is not a valid message-capable number"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21614: (400, "'To' number is not a valid mobile number"),
    21703: (400, "The Messaging Service does not have a phone number available to send"),
}


def form_of(received: Received) -> dict[str, str]:
    """The form fields of a request, decoded as UTF-8 (one value per field)."""
    fields = parse_qs(received.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    return {name: values[0] for name, values in fields.items()}


def _error(code: int, message: str | None = None) -> tuple[int, str, bytes]:
    status, default = ERRORS[code]
    payload = {
        "code": code,
        "message": message or default,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return status, "application/json; charset=utf-8", json.dumps(payload).encode("utf-8")


class FakeTwilio(FakeServer):
    """Twilio's Messages API (2010-04-01), ``Messages.json`` create only."""

    def __init__(self) -> None:
        self.number_codes: dict[str, int] = {}
        super().__init__()

    @property
    def path(self) -> str:
        return f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"

    def answer(self, received: Received) -> tuple[int, str, bytes]:
        failure = self.verify(received)
        if failure is not None:
            return self.error_reply(failure)
        if self.mode == "http504":
            return 504, "text/html", b"<html><body>504 Gateway Time-out</body></html>"
        if self.mode == "malformed":
            return 201, "application/json", b"<html>this is not json"
        if self.mode == "failed":
            status, content_type, body = self.success_reply(received)
            payload = json.loads(body)
            payload.update(status="failed", error_code=int(self.code), error_message="Failed")
            return status, content_type, json.dumps(payload).encode("utf-8")
        return super().answer(received)

    def verify(self, received: Received) -> str | None:
        expected = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
        if received.headers.get("Authorization") != f"Basic {expected}":
            received.problems.append("auth")
            return "20003"
        if received.path != self.path:
            received.problems.append("path")
            return "20404"
        if not received.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            received.problems.append("content-type")
            return "21602"
        form = form_of(received)
        if not form.get("To"):
            received.problems.append("To")
            return "21604"
        if ("From" in form) == ("MessagingServiceSid" in form):
            received.problems.append("From")
            return "21603"
        if not form.get("Body"):
            received.problems.append("Body")
            return "21602"
        to = form["To"]
        if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
            return "21211"  # a refusal, not a malformed request: no problem noted
        if to in self.number_codes:
            return str(self.number_codes[to])
        return None

    def success_reply(self, received: Received) -> tuple[int, str, bytes]:
        form = form_of(received)
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        payload = {
            "account_sid": TWILIO_ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # With a Messaging Service and no From, Twilio answers "accepted"
            # until the service has picked a sender.
            "status": "accepted" if "MessagingServiceSid" in form else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{sid}.json",
        }
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return 201, "application/json; charset=utf-8", body

    def error_reply(self, code: str) -> tuple[int, str, bytes]:
        return _error(int(code))

    def sent(self) -> list[dict[str, str]]:
        """The form of each request the fake accepted or refused, in order."""
        return [form_of(received) for received in self.requests]


@pytest.fixture
def twilio_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    """A running :class:`FakeTwilio`."""
    _no_proxy_env(monkeypatch)
    server = FakeTwilio()
    yield server
    server.stop()

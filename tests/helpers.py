"""Small helpers shared by tests."""

from __future__ import annotations

import django_smsverify


def last_code(phone: str | None = None) -> str:
    """The code in the newest message of the outbox (optionally to ``phone``)."""
    for message in reversed(django_smsverify.outbox):
        if phone is None or phone in message.to:
            return message.params[0]
    raise AssertionError(f"no SMS to {phone or 'anyone'} in the outbox")


def wrong_code(code: str) -> str:
    """A code of the same length that differs from ``code``."""
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def solved_captcha(client) -> dict[str, str]:
    """Fetch a real challenge through the captcha endpoint and return the form
    fields that solve it (the answer is derived from the key on the server)."""
    from django_smsverify.captcha.challenge import answer_for

    data = client.get("/accounts/phone/captcha/").json()
    return {"captcha_0": data["key"], "captcha_1": answer_for(data["key"])}


def api_send_code(api, phone: str, purpose: str):
    """POST the REST API's send-code with a freshly solved captcha; the response."""
    from django_smsverify.captcha.challenge import answer_for

    key = api.get("/api/phone/captcha/").json()["key"]
    data = {
        "phone": phone,
        "purpose": purpose,
        "captcha_key": key,
        "captcha_answer": answer_for(key),
    }
    return api.post("/api/phone/send-code/", data, format="json")

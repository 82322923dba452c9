"""Turns a freshly issued code into an SMS and hands it to the configured backend."""

from __future__ import annotations

import math

from django.utils.translation import gettext

from django_smsverify import get_connection
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import SmsConfigurationError
from django_smsverify.message import SmsMessage, SmsStatus


def build_message(phone: str, code: str, purpose: str, ttl_seconds: int) -> SmsMessage:
    """The SMS carrying ``code``: readable text plus template params ``[code, minutes]``."""
    minutes = max(1, math.ceil(ttl_seconds / 60))
    body = gettext(
        "Your verification code is %(code)s. It expires in %(minutes)d minutes. "
        "Do not share it with anyone."
    ) % {"code": code, "minutes": minutes}
    return SmsMessage(to=[phone], body=body, params=[code, str(minutes)], purpose=purpose)


def dispatch(message: SmsMessage) -> SmsStatus | None:
    """Send ``message`` the way ``SMSVERIFY["DELIVERY"]`` says.

    In ``"sync"`` mode the backend is called now and any
    :class:`~django_smsverify.exceptions.SmsSendError` propagates to the caller.
    """
    mode = app_settings.DELIVERY
    if mode != "sync":
        raise SmsConfigurationError(
            f'SMSVERIFY["DELIVERY"] = {mode!r} is not supported; use "sync".'
        )
    connection = get_connection()
    connection.send_messages([message])
    return message.status

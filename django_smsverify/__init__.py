"""Phone-number verification for Django.

The sending API mirrors :mod:`django.core.mail`: :func:`send_sms` and
:func:`get_connection` talk to the backend named by ``settings.SMS_BACKEND``,
and the locmem backend appends every message to :data:`outbox`, like
``django.core.mail.outbox``.

Nothing here touches settings at import time, so ``import django_smsverify``
is safe from a settings module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_smsverify.backends.base import BaseSmsBackend
    from django_smsverify.message import SmsMessage

__version__ = "0.1.0"

__all__ = ["__version__", "get_connection", "outbox", "send_sms"]

#: Messages sent through ``django_smsverify.backends.locmem.SmsBackend``.
#: Tests may empty it with ``django_smsverify.outbox.clear()``.
outbox: list[SmsMessage] = []


def get_connection(
    backend: str | None = None, fail_silently: bool = False, **kwargs: Any
) -> BaseSmsBackend:
    """Return an instance of an SMS backend.

    ``backend`` is a dotted path to a backend class; when it is omitted,
    ``settings.SMS_BACKEND`` is used (default: the console backend). Extra
    keyword arguments go to the backend's constructor.
    """
    from django.utils.module_loading import import_string

    from django_smsverify.conf import app_settings

    klass = import_string(backend or app_settings.SMS_BACKEND)
    return klass(fail_silently=fail_silently, **kwargs)


def send_sms(
    to: str | Sequence[str],
    body: str = "",
    *,
    template_id: str | None = None,
    params: Iterable[str] = (),
    purpose: str | None = None,
    fail_silently: bool = False,
    connection: BaseSmsBackend | None = None,
) -> int:
    """Send one SMS to one or more numbers and return how many messages were sent (0 or 1).

    ``to`` holds E.164 numbers. ``body`` is the human-readable text (used by the
    console and locmem backends and by text-based providers); template-based
    providers use ``template_id`` and ``params`` instead.
    """
    from django_smsverify.message import SmsMessage

    message = SmsMessage(
        to=to,
        body=body,
        template_id=template_id,
        params=params,
        purpose=purpose,
        connection=connection,
    )
    return message.send(fail_silently=fail_silently)

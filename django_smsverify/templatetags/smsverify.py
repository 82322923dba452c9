"""Template helpers: ``{% load smsverify %}``."""

from __future__ import annotations

from typing import Any

from django import template

from django_smsverify.adapter import get_adapter
from django_smsverify.phone import display, masked

register = template.Library()


@register.filter
def user_phone(user: Any) -> str:
    """The number of ``user`` (E.164) as the adapter's storage has it, or ``""``.

    ``{{ user|user_phone }}`` works whether numbers live in the app's
    ``PhoneNumber`` table or in a field of the user model.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return get_adapter().get_phone(user) or ""


@register.filter
def phone_national(number: Any) -> str:
    """An E.164 number as people of ``DEFAULT_REGION`` write it.

    ``{{ user|user_phone|phone_national }}`` gives ``138 0013 8000`` for a
    Chinese number on a site whose default region is CN, and the
    international format (``+44 7400 123456``) for a number of another region.
    """
    return display(number)


@register.filter
def phone_masked(number: Any) -> str:
    """An E.164 number with its middle digits hidden (``138****8000``), for
    messages such as "Code sent to …"."""
    return masked(number)

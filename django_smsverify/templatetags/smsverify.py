"""Template helpers: ``{% load smsverify %}``."""

from __future__ import annotations

from typing import Any

from django import template

from django_smsverify.adapter import get_adapter

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

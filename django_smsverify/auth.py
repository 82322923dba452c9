"""Authentication backend: log in with a phone number and password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from django_smsverify.exceptions import InvalidPhoneNumber
from django_smsverify.phone import normalize


class PhoneBackend(ModelBackend):
    """Authenticate ``phone`` + ``password`` against the user owning that number.

    Add ``"django_smsverify.auth.PhoneBackend"`` to ``AUTHENTICATION_BACKENDS``.
    Passwordless SMS login does not go through ``authenticate()``: the login
    form checks the code, then logs the user in with this backend.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        phone: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any | None:
        if phone is None or password is None:
            return None
        from django_smsverify.adapter import get_adapter

        try:
            user = get_adapter().get_user_by_phone(normalize(phone))
        except InvalidPhoneNumber:
            user = None
        if user is None:
            # Hash anyway, so an unknown number takes as long as a wrong password.
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

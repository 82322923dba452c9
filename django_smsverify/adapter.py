"""The adapter: the one class a site subclasses to customise user creation, the
wording of messages, and what happens after a number is verified.

Point ``SMSVERIFY["ADAPTER"]`` at a subclass of :class:`DefaultAdapter`, like
django-allauth's ``ACCOUNT_ADAPTER``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from django_smsverify import signals
from django_smsverify.conf import app_settings
from django_smsverify.delivery import build_message
from django_smsverify.message import SmsMessage

#: Backend path used when the app logs a user in itself.
AUTH_BACKEND = "django_smsverify.auth.PhoneBackend"


class DefaultAdapter:
    """Default behaviour; subclass and override any method."""

    # Users ------------------------------------------------------------------

    def get_user_by_phone(self, phone: str) -> Any | None:
        """The user whose verified number is ``phone`` (E.164), or None."""
        from django_smsverify.models import PhoneNumber

        link = PhoneNumber.objects.select_related("user").filter(number=phone).first()
        return link.user if link else None

    def is_registered(self, phone: str) -> bool:
        """Whether ``phone`` (E.164) belongs to a user."""
        from django_smsverify.models import PhoneNumber

        return PhoneNumber.objects.is_taken(phone)

    def username_for_phone(self, phone: str) -> str:
        """The username given to a user created from ``phone``: the E.164 number,
        which Django's username validator accepts and which is unique."""
        return phone

    def create_user(self, request: HttpRequest | None, phone: str, password: str | None) -> Any:
        """Create and save the user for a new registration (not the ``PhoneNumber``).

        Works with custom user models: the username field is filled from the
        number only when it is a text field that is not an e-mail field; an
        unusable password is set when ``password`` is None.
        """
        user_model = get_user_model()
        fields: dict[str, Any] = {}
        username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
        if isinstance(username_field, models.CharField) and not isinstance(
            username_field, models.EmailField
        ):
            fields[user_model.USERNAME_FIELD] = self.username_for_phone(phone)
        user = user_model(**fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        return user

    def register(self, request: HttpRequest | None, phone: str, password: str | None) -> Any:
        """Create the user and its ``PhoneNumber``; called inside a transaction."""
        from django_smsverify.models import PhoneNumber

        user = self.create_user(request, phone, password)
        PhoneNumber.objects.create(user=user, number=phone, verified_at=timezone.now())
        signals.user_registered.send(sender=type(self), user=user, phone=phone, request=request)
        self.phone_verified(request, user, phone)
        return user

    def change_phone(self, request: HttpRequest | None, user: Any, phone: str) -> None:
        """Give ``user`` the verified number ``phone``; called inside a transaction."""
        from django_smsverify.models import PhoneNumber

        PhoneNumber.objects.update_or_create(
            user=user, defaults={"number": phone, "verified_at": timezone.now()}
        )
        self.phone_verified(request, user, phone)

    def phone_verified(self, request: HttpRequest | None, user: Any, phone: str) -> None:
        """Hook run after ``user`` proved they own ``phone``. Sends ``phone_verified``."""
        signals.phone_verified.send(sender=type(self), user=user, phone=phone, request=request)

    def login(self, request: HttpRequest, user: Any) -> None:
        """Log ``user`` in (registration and SMS login)."""
        auth_login(request, user, backend=AUTH_BACKEND)

    def can_log_in(self, user: Any) -> bool:
        """Whether ``user`` may log in (default: ``is_active``)."""
        return bool(getattr(user, "is_active", True))

    # Messages ---------------------------------------------------------------

    def code_message(
        self, request: HttpRequest | None, phone: str, code: str, purpose: str, ttl: int
    ) -> SmsMessage:
        """The SMS that carries a code. Template providers use ``params = [code, minutes]``."""
        return build_message(phone, code, purpose, ttl)

    def notice_message(
        self, request: HttpRequest | None, phone: str, purpose: str, reason: str, ttl: int
    ) -> SmsMessage:
        """The SMS sent instead of a code when ``PREVENT_ENUMERATION`` hides that a
        number is already registered (``reason="registered"``) or is not
        (``reason="unregistered"``). It tells the owner what happened and carries
        no usable code. Its ``template_id`` is the provider's ``NOTICE`` template
        when one is configured (see the backend docs)."""
        if reason == "registered":
            body = gettext(
                "Someone tried to sign up with this number, which already has an account. "
                "If it was you, log in instead. If not, you can ignore this message."
            )
        else:
            body = gettext(
                "Someone asked for a login code for this number, but no account uses it. "
                "If it was you, sign up first. If not, you can ignore this message."
            )
        return SmsMessage(to=[phone], body=body, params=[], purpose=f"notice_{reason}")

    # Requests ---------------------------------------------------------------

    def get_client_ip(self, request: HttpRequest) -> str | None:
        """The client's IP: ``REMOTE_ADDR``, or the address ``TRUSTED_PROXIES`` hops
        back in ``X-Forwarded-For`` when the site says it sits behind proxies."""
        remote = request.META.get("REMOTE_ADDR") or None
        hops = app_settings.TRUSTED_PROXIES
        if hops > 0:
            forwarded = [
                part.strip()
                for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                if part.strip()
            ]
            if len(forwarded) >= hops:
                candidate = forwarded[-hops]
                if _is_ip(candidate):
                    return candidate
        return remote


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def get_adapter() -> DefaultAdapter:
    """An instance of the adapter class named by ``SMSVERIFY["ADAPTER"]``."""
    return import_string(app_settings.ADAPTER)()

"""The adapter: the one class a site subclasses to customise user creation, the
wording of messages, and what happens after a number is verified.

Point ``SMSVERIFY["ADAPTER"]`` at a subclass of :class:`DefaultAdapter`, like
django-allauth's ``ACCOUNT_ADAPTER``.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Any

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.core.cache import caches
from django.db import models, transaction
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from django_smsverify import signals
from django_smsverify.client_ip import client_bucket
from django_smsverify.conf import app_settings
from django_smsverify.delivery import build_message, dispatch
from django_smsverify.exceptions import ServiceUnavailable
from django_smsverify.message import SmsMessage
from django_smsverify.phone_storage import PhoneStorage, default_phone_storage
from django_smsverify.store.base import now_ms

logger = logging.getLogger("django_smsverify.adapter")

#: Backend path used when the app logs a user in itself.
AUTH_BACKEND = "django_smsverify.auth.PhoneBackend"


class DefaultAdapter:
    """Default behaviour; subclass and override any method."""

    # Where numbers live ------------------------------------------------------

    def get_phone_storage(self) -> PhoneStorage:
        """The :class:`~django_smsverify.phone_storage.PhoneStorage` that holds
        users' numbers: a field of the user model when
        ``SMSVERIFY["USER_PHONE_FIELD"]`` names one, else the app's
        ``PhoneNumber`` table. Override to keep numbers somewhere else."""
        return default_phone_storage()

    def get_phone(self, user: Any) -> str | None:
        """The number (E.164) of ``user``, or None. Pages and templates show
        this (``{{ user|user_phone }}`` after ``{% load smsverify %}``)."""
        return self.get_phone_storage().get_phone(user)

    def get_user_by_phone(self, phone: str) -> Any | None:
        """The user whose number is ``phone`` (E.164), or None."""
        return self.get_phone_storage().get_user(phone)

    def is_registered(self, phone: str) -> bool:
        """Whether ``phone`` (E.164) belongs to a user."""
        return self.get_phone_storage().is_taken(phone)

    # Users ------------------------------------------------------------------

    def username_for_phone(self, phone: str) -> str:
        """The username of a user created from ``phone``.

        Not the number: carriers give numbers to new people, and a username
        frozen to a number would stop its next owner from ever signing up
        after the first one moved to another number. The default is
        ``user_`` and 16 random hex digits (cut to the field's
        ``max_length``), which cannot be mistaken for any number. A site that
        wants another scheme overrides this; a collision is then answered as
        a failed sign-up (logged with its cause), never as "already
        registered".
        """
        return f"user_{secrets.token_hex(8)}"

    def new_user(self, request: HttpRequest | None, phone: str) -> Any:
        """An unsaved user for a new registration from ``phone``.

        Fills what the default user models require: the username field (with
        :meth:`username_for_phone`) when it is a text field that is not an
        e-mail field, and the number itself when the storage keeps it on the
        user (``USER_PHONE_FIELD``). Override to fill fields of your own; the
        system check ``smsverify.W011`` looks at what this returns.
        """
        user_model = get_user_model()
        fields: dict[str, Any] = dict(self.get_phone_storage().new_user_fields(phone))
        username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
        if (
            user_model.USERNAME_FIELD not in fields
            and isinstance(username_field, models.CharField)
            and not isinstance(username_field, models.EmailField)
        ):
            name = self.username_for_phone(phone)
            if username_field.max_length:
                name = name[: username_field.max_length]
            fields[user_model.USERNAME_FIELD] = name
        return user_model(**fields)

    def create_user(self, request: HttpRequest | None, phone: str, password: str | None) -> Any:
        """Create and save the user for a new registration (from :meth:`new_user`).

        An unusable password is set when ``password`` is None (one-step SMS
        login). Runs inside the registration's transaction.
        """
        user = self.new_user(request, phone)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        return user

    def register(self, request: HttpRequest | None, phone: str, password: str | None) -> Any:
        """Create the user and record its number; called inside a transaction.

        Sends ``user_registered`` and runs :meth:`phone_verified`. Used by
        the sign-up page and API, and by one-step SMS login
        (``LOGIN_CREATES_USER``) with ``password=None``.
        """
        user = self.create_user(request, phone, password)
        self.get_phone_storage().attach(user, phone)
        signals.user_registered.send(sender=type(self), user=user, phone=phone, request=request)
        self.phone_verified(request, user, phone)
        return user

    def change_phone(self, request: HttpRequest | None, user: Any, phone: str) -> None:
        """Give ``user`` the verified number ``phone``; called inside a transaction.

        Call it only once the user has proved, besides holding a session, that
        the account is theirs (``SMSVERIFY["PHONE_CHANGE_PROOF"]``: the
        current password, or a code sent to the current number) and that
        they own ``phone`` (a code sent to it). ``PhoneChangeForm`` checks
        both, then calls this and :meth:`end_other_sessions`; code of your
        own that moves a user to another number must do the same.

        Once the transaction commits, the old number (if any) gets a notice
        SMS naming the change (:meth:`send_phone_changed_notice`).
        """
        old_phone = self.get_phone(user)
        self.get_phone_storage().set_phone(user, phone)
        self.phone_verified(request, user, phone)
        if old_phone and old_phone != phone:
            transaction.on_commit(lambda: self.send_phone_changed_notice(request, user, old_phone))

    def send_phone_changed_notice(
        self, request: HttpRequest | None, user: Any, old_phone: str
    ) -> None:
        """Tell ``old_phone`` that ``user``'s account moved to another number
        (:meth:`notice_message` with ``reason="phone_changed"``). Runs after the
        change committed; a failed send is logged, never raised: the change
        already happened."""
        ttl = app_settings.CODE_TTL
        try:
            message = self.notice_message(request, old_phone, "change_phone", "phone_changed", ttl)
            dispatch(message, expires_in=ttl)
        except Exception:
            logger.exception("could not send the phone change notice to the old number")

    def end_other_sessions(
        self, request: HttpRequest | None, user: Any, password: str | None = None
    ) -> None:
        """End every session and every token the app issued for ``user``.

        Django logs a session out when the user's session auth hash (derived
        from the password hash) no longer matches the one stored in it, and
        the REST API's JWT classes check a claim derived from the same hash
        (see ``docs/api.rst``). So this sets the password again: ``password``
        (the new one after a reset, the current one after a phone change: the
        same password with a new salt) or, for an account without a usable
        password, a new unusable one. If djangorestframework-simplejwt's
        ``token_blacklist`` app is installed, the user's outstanding refresh
        tokens are blacklisted too.

        Called inside the transaction of a password reset and of a phone
        change. The phone change then keeps the requesting session logged in
        (``update_session_auth_hash``). Raises ``ValueError`` when
        ``password`` is None for an account with a usable password, which
        would otherwise lose it.
        """
        if password is not None:
            user.set_password(password)
        elif user.has_usable_password():
            raise ValueError("end_other_sessions() needs the password of this account")
        else:
            user.set_unusable_password()
        user.save(update_fields=["password"])
        if django_apps.is_installed("rest_framework_simplejwt.token_blacklist"):
            _blacklist_refresh_tokens(user)

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
        (``reason="unregistered"``), and the notice to a user's old number after
        a phone change (``purpose="change_phone"``, ``reason="phone_changed"``).
        It tells the owner what happened and carries no usable code. Its
        ``purpose`` is ``"notice_"`` plus ``reason`` and it has no ``params``:
        template providers (Ronglian, Tencent Cloud) send it with the template
        that their settings block's ``NOTICE_TEMPLATE_ID`` names for ``reason``
        (checked by ``smsverify.E107``/``E118``)."""
        if reason == "phone_changed":
            body = gettext(
                "The phone number of your account was just changed from this number to "
                "another one. If you did not do this, contact us at once: this number can no "
                "longer log in to the account or reset its password."
            )
        elif reason == "registered" and purpose == "change_phone":
            body = gettext(
                "Someone tried to move their account to this number, which already has an "
                "account. If it was you, log in with this number instead. If not, you can "
                "ignore this message."
            )
        elif reason == "registered":
            body = gettext(
                "Someone tried to sign up with this number, which already has an account. "
                "If it was you, log in instead. If not, you can ignore this message."
            )
        elif purpose == "reset_password":
            body = gettext(
                "Someone asked to reset the password of an account with this number, but no "
                "account uses it. If it was you, sign up first. If not, you can ignore this "
                "message."
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


#: Cache key (in ``SMSVERIFY["CACHE"]``) that records a request whose client
#: address could not be determined, for the deploy check ``smsverify.W013``.
UNKNOWN_CLIENT_SEEN = "smsverify:unknown-client-seen"


def client_key(request: HttpRequest) -> str:
    """The client that ``request`` counts against in a per-client limit: the
    adapter's :meth:`~DefaultAdapter.get_client_ip`, IPv6 grouped by
    ``IPV6_PREFIX`` (see :func:`~django_smsverify.client_ip.client_bucket`).

    When there is no address (``REMOTE_ADDR`` empty, as behind a proxy on a
    unix socket that does not pass it on) the limit can neither be applied
    per client nor skipped: skipping lets anyone past it, and one shared
    bucket lets anyone lock everybody out. So the request is refused with
    :class:`~django_smsverify.exceptions.ServiceUnavailable` (HTTP 503), the
    error is logged, and ``manage.py check --deploy`` warns
    (``smsverify.W013``) until the deployment passes the address on.
    """
    key = client_bucket(get_adapter().get_client_ip(request))
    if key:
        return key
    logger.error(
        "client address unknown (REMOTE_ADDR is empty, TRUSTED_PROXIES is %d): "
        "refusing a request that a per-client limit applies to",
        app_settings.TRUSTED_PROXIES,
    )
    try:
        caches[app_settings.CACHE].set(UNKNOWN_CLIENT_SEEN, now_ms(), 7 * 86_400)
    except Exception:  # the refusal matters, the note for the check does not
        logger.warning("could not record the unknown client address for the deploy check")
    raise ServiceUnavailable()


def _blacklist_refresh_tokens(user: Any) -> None:
    """Blacklist every outstanding simplejwt refresh token of ``user``."""
    from rest_framework_simplejwt.token_blacklist.models import (
        BlacklistedToken,
        OutstandingToken,
    )

    for token in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
        BlacklistedToken.objects.get_or_create(token=token)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def get_adapter() -> DefaultAdapter:
    """An instance of the adapter class named by ``SMSVERIFY["ADAPTER"]``."""
    return import_string(app_settings.ADAPTER)()

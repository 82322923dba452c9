"""Where a user's number lives: the one seam every view, form, API endpoint,
admin page and template goes through.

Two storages ship. :class:`ModelPhoneStorage` (the default) keeps numbers in
the app's own :class:`~django_smsverify.models.PhoneNumber` table.
:class:`UserFieldPhoneStorage` keeps them in a field of the site's user model
(``SMSVERIFY["USER_PHONE_FIELD"]``), for sites that had a ``mobile`` column
long before they installed this app. Numbers go in and come out as E.164;
only the storage knows how they are spelled in the database.

The adapter owns the storage (:meth:`DefaultAdapter.get_phone_storage
<django_smsverify.adapter.DefaultAdapter.get_phone_storage>`); a site with
numbers somewhere else again subclasses :class:`PhoneStorage` and returns it
from its adapter.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from django_smsverify.conf import app_settings
from django_smsverify.phone import national_number, read_stored, region_of


class PhoneStorage:
    """The interface: a user's number, a number's user, and writing a number.

    Every ``phone`` argument and return value is E.164. Writes run inside the
    caller's transaction; a number that another user holds must make them
    raise ``IntegrityError`` (a unique constraint), which the forms turn
    into "already registered".
    """

    #: Whether this storage uses the app's ``PhoneNumber`` table (its admin
    #: page is shown only then).
    uses_phone_model = False

    def get_phone(self, user: Any) -> str | None:
        """The number of ``user``, or None."""
        raise NotImplementedError

    def get_user(self, phone: str) -> Any | None:
        """The user whose number is ``phone``, or None."""
        raise NotImplementedError

    def is_taken(self, phone: str) -> bool:
        """Whether any user has the number ``phone``."""
        return self.get_user(phone) is not None

    def new_user_fields(self, phone: str) -> dict[str, Any]:
        """Field values for a user about to be created for ``phone`` (unsaved)."""
        return {}

    def attach(self, user: Any, phone: str) -> None:
        """Record ``phone`` for ``user``, who was just created and saved."""
        self.set_phone(user, phone)

    def set_phone(self, user: Any, phone: str) -> None:
        """Give the existing ``user`` the verified number ``phone``."""
        raise NotImplementedError


class ModelPhoneStorage(PhoneStorage):
    """Numbers in the app's ``PhoneNumber`` table, one row per user (the default)."""

    uses_phone_model = True

    def get_phone(self, user: Any) -> str | None:
        from django_smsverify.models import PhoneNumber

        if user is None or getattr(user, "pk", None) is None:
            return None
        try:
            return str(user.smsverify_phone.number)
        except PhoneNumber.DoesNotExist:
            return None

    def get_user(self, phone: str) -> Any | None:
        from django_smsverify.models import PhoneNumber

        link = PhoneNumber.objects.select_related("user").filter(number=phone).first()
        return link.user if link else None

    def is_taken(self, phone: str) -> bool:
        from django_smsverify.models import PhoneNumber

        return PhoneNumber.objects.is_taken(phone)

    def attach(self, user: Any, phone: str) -> None:
        from django_smsverify.models import PhoneNumber

        PhoneNumber.objects.create(user=user, number=phone, verified_at=timezone.now())

    def set_phone(self, user: Any, phone: str) -> None:
        from django_smsverify.models import PhoneNumber

        link, _created = PhoneNumber.objects.update_or_create(
            user=user, defaults={"number": phone, "verified_at": timezone.now()}
        )
        # Keep the cached reverse relation in step for the rest of the request.
        user.smsverify_phone = link


class UserFieldPhoneStorage(PhoneStorage):
    """Numbers in a field of the user model (``SMSVERIFY["USER_PHONE_FIELD"]``).

    ``fmt`` is how new numbers are written: ``"e164"`` or ``"national"`` (the
    national digits for numbers of ``DEFAULT_REGION``, E.164 for others).
    Look-ups match every spelling a number is commonly stored in (E.164, the
    same digits without ``+``, and national digits of ``DEFAULT_REGION``),
    whatever ``fmt`` says, so existing rows match numbers typed as
    ``+86 138 0013 8000`` and an index on the field is still used.
    """

    def __init__(self, field: str, fmt: str = "e164") -> None:
        self.field = field
        self.fmt = fmt

    @property
    def model(self) -> type[models.Model]:
        return get_user_model()

    def stored(self, phone: str) -> str:
        """How ``phone`` (E.164) is written to the field."""
        if self.fmt == "national" and region_of(phone) == app_settings.DEFAULT_REGION:
            return national_number(phone)
        return phone

    def spellings(self, phone: str) -> list[str]:
        """The stored values that mean ``phone``."""
        found = [phone, phone.lstrip("+")]
        if region_of(phone) == app_settings.DEFAULT_REGION:
            found.append(national_number(phone))
        return found

    def _matching(self, phone: str) -> models.QuerySet[Any]:
        return self.model._default_manager.filter(**{f"{self.field}__in": self.spellings(phone)})

    def get_phone(self, user: Any) -> str | None:
        return read_stored(getattr(user, self.field, None))

    def get_user(self, phone: str) -> Any | None:
        # Two rows can only match when the column holds one number in two
        # spellings; the oldest account wins, every time.
        return self._matching(phone).order_by("pk").first()

    def is_taken(self, phone: str) -> bool:
        return self._matching(phone).exists()

    def new_user_fields(self, phone: str) -> dict[str, Any]:
        return {self.field: self.stored(phone)}

    def attach(self, user: Any, phone: str) -> None:
        # new_user_fields() already put the number on the row when it was created.
        pass

    def set_phone(self, user: Any, phone: str) -> None:
        setattr(user, self.field, self.stored(phone))
        user.save(update_fields=[self.field])


def default_phone_storage() -> PhoneStorage:
    """The storage the settings choose: the user field named by
    ``USER_PHONE_FIELD`` in ``USER_PHONE_FORMAT``, else the ``PhoneNumber`` table."""
    field = app_settings.USER_PHONE_FIELD
    if field:
        return UserFieldPhoneStorage(field, app_settings.USER_PHONE_FORMAT)
    return ModelPhoneStorage()

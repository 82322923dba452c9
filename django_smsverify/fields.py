"""Form fields: phone numbers, SMS codes, and the captcha."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from django_smsverify.captcha.fields import CaptchaField
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import InvalidPhoneNumber
from django_smsverify.phone import display, normalize

__all__ = ["CaptchaField", "PhoneNumberField", "PhoneNumberInput", "SmsCodeField"]


class PhoneNumberInput(forms.TextInput):
    """A text input that phones open with the number keyboard (``type="tel"``).

    The type is the widget's own, not an attribute added beside
    ``type="text"``: a browser keeps the first of two ``type`` attributes.
    """

    input_type = "tel"

    def format_value(self, value: Any) -> str | None:
        # A number the server already knows (E.164, from a send or ?phone=)
        # is shown the way people write it; what a user typed stays as typed.
        if isinstance(value, str) and value.startswith("+"):
            return display(value)
        return super().format_value(value)


class PhoneNumberField(forms.CharField):
    """A mobile number, cleaned to E.164 (``+8613800138000``).

    Accepts every usual spelling (spaces, dashes, ``+86``/``0086``, full-width
    digits) and refuses fixed lines and numbers outside ``ALLOWED_REGIONS``.
    """

    widget = PhoneNumberInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Mobile number"))
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.update({"autocomplete": "tel", "inputmode": "tel"})
        return attrs

    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        if value in self.empty_values:
            return ""
        try:
            return normalize(value)
        except InvalidPhoneNumber as exc:
            raise ValidationError(exc.message, code=exc.code) from exc


class SmsCodeField(forms.CharField):
    """The code received by SMS. Digits only (full-width digits are folded)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Verification code"))
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        length = app_settings.CODE_LENGTH
        attrs.update(
            {
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9]*",
                "maxlength": str(length),
                "size": str(length + 2),
            }
        )
        return attrs

"""The captcha form field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from django_smsverify import captcha
from django_smsverify.captcha.widgets import CaptchaWidget
from django_smsverify.exceptions import CaptchaInvalid, CaptchaRequired, ServiceUnavailable


class CaptchaField(forms.MultiValueField):
    """A captcha answer: the challenge key (hidden) and the typed characters.

    Cleaning checks the answer with :func:`django_smsverify.captcha.verify`,
    which uses the challenge up, right or wrong; the re-rendered form shows a
    new image. The cleaned value is ``True``. When the captcha is turned off
    (``SMSVERIFY["CAPTCHA"] = False``) the widget renders nothing and the
    field is always valid.

    Errors (codes): ``required``, ``captcha_invalid`` (wrong, expired or used),
    and ``service_unavailable`` when the store is down; a view may answer 503
    for that one (``form.has_error(name, "service_unavailable")``).
    """

    widget = CaptchaWidget
    default_error_messages = {
        "required": CaptchaRequired.default_message,
        "incomplete": CaptchaRequired.default_message,
        CaptchaInvalid.code: CaptchaInvalid.default_message,
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Characters in the image"))
        fields = (forms.CharField(), forms.CharField())
        super().__init__(fields, require_all_fields=True, **kwargs)

    def compress(self, data_list: list[Any]) -> tuple[str, str]:
        if not data_list:
            return ("", "")
        return (data_list[0], data_list[1])

    def clean(self, value: Any) -> bool:
        if not captcha.is_enabled():
            return True
        key, answer = super().clean(value)
        if not key or not answer:  # e.g. only spaces, stripped by the sub-field
            raise ValidationError(self.error_messages["required"], code="required")
        try:
            solved = captcha.verify(key, answer)
        except ServiceUnavailable as exc:
            raise ValidationError(exc.message, code=exc.code) from exc
        if not solved:
            raise ValidationError(
                self.error_messages[CaptchaInvalid.code], code=CaptchaInvalid.code
            )
        return True

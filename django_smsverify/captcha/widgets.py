"""The captcha widget: image, hidden key, answer box and a refresh control."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse

from django_smsverify import captcha
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import ServiceUnavailable


class CaptchaWidget(forms.MultiWidget):
    """Renders a fresh challenge each time: its image, its key in a hidden
    input, an answer box, and a "show another image" link.

    With JavaScript (``django_smsverify/captcha.js``, in this widget's
    ``media``) the link fetches a new challenge from ``smsverify:captcha`` and
    swaps the image and key in place; without it the link reloads the page,
    which renders a new challenge too.

    A challenge is good for one answer, so the key a form was posted with is
    never rendered again (a form shown again after an error gets a new one),
    and the typed answer is not echoed. Needs the app's URLs included.
    """

    template_name = "django_smsverify/widgets/captcha.html"

    class Media:
        js = ("django_smsverify/captcha.js",)

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        answer_attrs = {
            "autocomplete": "off",
            "autocapitalize": "characters",
            "autocorrect": "off",
            "spellcheck": "false",
            "data-smsverify-captcha-answer": True,
        }
        answer_attrs.update(attrs or {})
        widgets = (
            forms.HiddenInput(attrs={"data-smsverify-captcha-key": True}),
            forms.TextInput(attrs=answer_attrs),
        )
        super().__init__(widgets)

    def decompress(self, value: Any) -> list[Any]:
        return [None, None]

    def id_for_label(self, id_: str) -> str:
        # The label belongs to the answer box, not to the hidden key.
        return f"{id_}_1" if id_ else id_

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        info: dict[str, Any] = {"enabled": captcha.is_enabled()}
        key = ""
        if info["enabled"]:
            from django_smsverify.captcha.views import image_url

            options = app_settings.CAPTCHA
            info.update(
                width=int(options.WIDTH),
                height=int(options.HEIGHT),
                refresh_url=reverse("smsverify:captcha"),
            )
            try:
                key = captcha.new_challenge().key
            except ServiceUnavailable as exc:
                # Render the form anyway; posting it fails validation with the
                # same message, and the page shows it instead of a 500.
                info["unavailable"] = exc.message
            else:
                info.update(image_url=image_url(key), image_url_2x=image_url(key, scale=2))
        context = super().get_context(name, [key, ""], attrs)
        context["widget"]["captcha"] = info
        return context

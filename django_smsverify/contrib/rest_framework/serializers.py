"""Serializers of the REST API.

A request serializer here declares no rule of its own. :class:`FormSerializer`
reads the fields of the web flow's form (``get_form_class(name)``, so a form
a site swapped in through ``SMSVERIFY["FORMS"]`` is used, extra fields and
all), mirrors them as REST framework fields for parsing and for the OpenAPI
schema, and its :meth:`~FormSerializer.validate` runs that form: the captcha,
the engine's code check, password validation and the enumeration rules all
happen inside the form, exactly as on the pages. Form errors come back in
REST framework's shape, ``{"field": ["message"]}`` and ``non_field_errors``.
"""

from __future__ import annotations

from django_smsverify.contrib.rest_framework import require_drf

require_drf()

from typing import Any, ClassVar  # noqa: E402

from django import forms  # noqa: E402
from rest_framework import serializers  # noqa: E402
from rest_framework.exceptions import ErrorDetail  # noqa: E402
from rest_framework.settings import api_settings  # noqa: E402

from django_smsverify import captcha  # noqa: E402
from django_smsverify.captcha.fields import CaptchaField  # noqa: E402
from django_smsverify.exceptions import FORM_MESSAGES, ServiceUnavailable  # noqa: E402
from django_smsverify.forms import get_form_class  # noqa: E402

#: API names of the captcha's two parts (the form reads ``captcha_0``/``captcha_1``).
CAPTCHA_KEY, CAPTCHA_ANSWER = "captcha_key", "captcha_answer"


def _api_fields(name: str, field: forms.Field) -> list[tuple[str, serializers.Field, str]]:
    """``(api name, REST framework field, key in the form's data)`` for one form field.

    The REST framework field only parses (a string, a choice, a boolean) and
    describes the field in the schema; the form field keeps every rule.
    """
    common: dict[str, Any] = {"required": field.required, "label": field.label}
    if isinstance(field.help_text, str) and field.help_text:
        common["help_text"] = field.help_text
    if isinstance(field, CaptchaField):
        if not captcha.is_enabled():
            return []  # the form ignores it; so does the API
        return [
            (CAPTCHA_KEY, serializers.CharField(required=field.required), f"{name}_0"),
            (CAPTCHA_ANSWER, serializers.CharField(**common), f"{name}_1"),
        ]
    if isinstance(field, forms.MultiValueField):
        return [
            (f"{name}_{i}", serializers.CharField(required=field.required), f"{name}_{i}")
            for i in range(len(field.fields))
        ]
    if isinstance(field, forms.BooleanField):
        # A form's required BooleanField means "must be ticked": the form says so.
        common["required"] = False
        return [(name, serializers.BooleanField(**common), name)]
    if isinstance(field, forms.ChoiceField):
        choices = [(value, label) for value, label in field.choices if value != ""]
        # REST framework's own message repeats the input; a lone surrogate
        # there makes its UTF-8 JSON renderer fail (a 500).
        messages = {"invalid_choice": FORM_MESSAGES["invalid_choice"]}
        choice = serializers.ChoiceField(choices=choices, error_messages=messages, **common)
        return [(name, choice, name)]
    password = isinstance(field.widget, forms.PasswordInput)
    return [
        (
            name,
            serializers.CharField(
                allow_blank=not field.required,
                max_length=getattr(field, "max_length", None),
                # Passwords keep their spaces, as the form's strip=False says.
                trim_whitespace=getattr(field, "strip", True),
                write_only=password,
                style={"input_type": "password"} if password else {},
                **common,
            ),
            name,
        )
    ]


def form_error_details(form: forms.Form, error_keys: dict[str, str]) -> dict[str, list[Any]]:
    """``form.errors`` in REST framework's shape, keeping each error's code."""
    details: dict[str, list[Any]] = {}
    for field, errors in form.errors.as_data().items():
        if field == forms.forms.NON_FIELD_ERRORS:
            key = api_settings.NON_FIELD_ERRORS_KEY
        else:
            key = error_keys.get(field, field)
        for error in errors:
            for message in error.messages:
                details.setdefault(key, []).append(ErrorDetail(message, code=error.code))
    return details


class FormSerializer(serializers.Serializer):
    """A serializer whose fields and rules are those of a web-flow form.

    Subclasses set :attr:`form_name` (a name :func:`get_form_class` knows).
    After ``is_valid()``, :attr:`form` is the validated form, ready for its
    ``send()``/``save()``/``get_user()``. A store outage seen by the form
    raises :class:`~django_smsverify.exceptions.ServiceUnavailable` (the views
    answer 503) rather than a validation error.
    """

    form_name: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.form: Any = None
        self._data_keys: dict[str, str] = {}
        self._error_keys: dict[str, str] = {}

    @property
    def http_request(self) -> Any:
        """The request from the serializer's context (REST framework's ``Request``)."""
        return self.context.get("request")

    def get_form_class(self) -> type[forms.Form]:
        return get_form_class(self.form_name)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {"request": self.http_request}

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Read the fields of an instance: forms may adjust them in __init__.
        form = self.get_form_class()(**self.get_form_kwargs())
        for name, field in form.fields.items():
            for api_name, api_field, data_key in _api_fields(name, field):
                fields.setdefault(api_name, api_field)
                self._data_keys[api_name] = data_key
                if api_name == CAPTCHA_ANSWER or data_key == name:
                    self._error_keys[name] = api_name
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = {self._data_keys.get(key, key): value for key, value in attrs.items()}
        form = self.get_form_class()(data, **self.get_form_kwargs())
        if not form.is_valid():
            self.raise_form_errors(form)
        self.form = form
        return attrs

    def raise_form_errors(self, form: Any) -> None:
        """Raise the form's errors: 503 for an outage, else a validation error.

        Also used by views when ``save()`` adds an error after validation (a
        registration that lost a race for its number).
        """
        if form.is_unavailable():
            raise ServiceUnavailable()
        raise serializers.ValidationError(form_error_details(form, self._error_keys))


class SendCodeSerializer(FormSerializer):
    """``phone``, ``purpose`` and (unless turned off) ``captcha_key``/``captcha_answer``."""

    form_name = "send_code"


class RegisterSerializer(FormSerializer):
    """``phone``, ``code``, ``password1``, ``password2``."""

    form_name = "register"


class SmsLoginSerializer(FormSerializer):
    """``phone`` and ``code``."""

    form_name = "login"


class PasswordLoginSerializer(FormSerializer):
    """``phone`` and ``password``."""

    form_name = "password_login"


class PasswordResetSerializer(FormSerializer):
    """``phone``, ``code``, ``password1``, ``password2``."""

    form_name = "password_reset"


class PhoneChangeSerializer(FormSerializer):
    """``phone`` (the new number), ``code`` (sent to it), and the proof the
    account asks for: ``current_password`` and/or ``current_code``."""

    form_name = "phone_change"


# Answers (they document the schema; views fill them in) ----------------------


class CaptchaChallengeSerializer(serializers.Serializer):
    """A new captcha challenge."""

    key = serializers.CharField(help_text="Send back as captcha_key.")
    # CharField, not URLField: the latter puts Django's URL regex, which is
    # not a valid ECMA regex, into the schema.
    image_url = serializers.CharField(help_text="Absolute URL of the PNG.")
    image_url_2x = serializers.CharField(help_text="The same image at twice the size.")
    expires_in = serializers.IntegerField(help_text="Seconds.")


class CodeSentSerializer(serializers.Serializer):
    """The answer to a code request (the code itself is never in it)."""

    phone = serializers.CharField(help_text="E.164.")
    resend_after = serializers.IntegerField(help_text="Seconds.")
    expires_in = serializers.IntegerField(help_text="Seconds.")
    delivery = serializers.ChoiceField(
        choices=["sent", "uncertain"],
        help_text="'uncertain' when the SMS provider did not answer after the request "
        "went out: the code may still arrive and works if it does.",
    )
    message = serializers.CharField(
        required=False, help_text="What to tell the user when delivery is 'uncertain'."
    )


class PhoneStatusSerializer(serializers.Serializer):
    """Whether a number is registered (only when enumeration is allowed)."""

    phone = serializers.CharField(help_text="E.164.")
    registered = serializers.BooleanField()


class AuthResultSerializer(serializers.Serializer):
    """The answer to a registration or login: the user and the token hook's keys."""

    user_id = serializers.JSONField(help_text="The user's primary key.")
    token = serializers.CharField(allow_null=True, help_text="None with session login.")
    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)


class DetailSerializer(serializers.Serializer):
    """A message for the user."""

    detail = serializers.CharField()


class PhoneChangedSerializer(serializers.Serializer):
    """The user's new number, and new credentials for a request that did not
    come with a session (the change ended its token)."""

    phone = serializers.CharField(help_text="E.164.")
    token = serializers.CharField(
        required=False, allow_null=True, help_text="The token hook's, for a token request."
    )
    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)


class EmptySerializer(serializers.Serializer):
    """No fields: a request without a body."""

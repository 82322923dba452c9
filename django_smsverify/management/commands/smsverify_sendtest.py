"""``manage.py smsverify_sendtest PHONE``: send one test SMS through the configured backend.

Use it to check provider credentials, templates and network access from the
machine that will send. It prints the outcome (status, the provider's message
id, or the error code and whether it is transient) and never a code or a
secret. It exits with status 1 when the message was not sent.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from django_smsverify import get_connection
from django_smsverify.conf import PURPOSES, app_settings
from django_smsverify.exceptions import InvalidPhoneNumber, SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage
from django_smsverify.phone import normalize


class Command(BaseCommand):
    help = (
        "Send a test SMS to PHONE through SMS_BACKEND and print the outcome. Template "
        "providers get the template of --purpose with a random code that is never shown "
        "and never valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phone", help="The number to send to (normalised to E.164).")
        parser.add_argument(
            "--purpose",
            default="login",
            choices=PURPOSES,
            help="Whose template to use (default: login).",
        )
        parser.add_argument(
            "--template",
            default=None,
            help="Send this template id instead of the configured one.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            phone = normalize(options["phone"])
        except InvalidPhoneNumber as exc:
            raise CommandError(str(exc)) from None

        # A template needs values: a fresh random code, unknown to the store and
        # never printed, so the test SMS cannot be used to verify anything.
        code = "".join(secrets.choice("0123456789") for _ in range(app_settings.CODE_LENGTH))
        minutes = max(1, math.ceil(app_settings.CODE_TTL / 60))
        message = SmsMessage(
            to=[phone],
            body=_("This is a test message from django-smsverify."),
            template_id=options["template"],
            params=[code, str(minutes)],
            purpose=options["purpose"],
        )
        backend_path = app_settings.SMS_BACKEND
        self.stdout.write(
            _("Sending a test SMS to %(phone)s through %(backend)s...")
            % {"phone": phone, "backend": backend_path}
        )
        try:
            connection = get_connection()
            connection.send_messages([message])
        except SmsConfigurationError as exc:
            raise CommandError(_("Configuration error: %(error)s") % {"error": exc}) from None
        except SmsSendError as exc:
            self._write_tried(getattr(exc, "attempts", None))
            raise CommandError(self._describe_failure(exc)) from None

        status = message.status
        if status is not None:
            self._write_tried(status.attempts)
        if status is None or not status.sent:
            error = status.error if status is not None else None
            if error is not None:
                raise CommandError(self._describe_failure(error))
            raise CommandError(_("The message was not sent."))
        self.stdout.write(
            self.style.SUCCESS(
                _("Status: %(status)s (provider: %(provider)s, message id: %(id)s)")
                % {
                    "status": status.status,
                    "provider": status.provider or "-",
                    "id": status.message_id or "-",
                }
            )
        )
        refused = [number for number, state in status.recipients.items() if state != "sent"]
        if refused:
            self.stdout.write(
                self.style.WARNING(
                    _("Refused numbers: %(numbers)s (code %(code)s)")
                    % {"numbers": ", ".join(refused), "code": status.provider_code or "-"}
                )
            )

    def _write_tried(self, attempts: list[tuple[str, str]] | None) -> None:
        # The routing backend says which providers it tried and how each went.
        if attempts:
            from django_smsverify.backends.routing import describe_attempts

            self.stdout.write(
                _("Providers tried: %(attempts)s") % {"attempts": describe_attempts(attempts)}
            )

    def _describe_failure(self, error: SmsSendError) -> str:
        kind = _("transient, may succeed later") if error.transient else _("permanent")
        return _("Not sent: %(provider)s error %(code)s (%(kind)s): %(detail)s") % {
            "provider": error.provider or "-",
            "code": error.provider_code or "-",
            "kind": kind,
            "detail": error.detail or "-",
        }

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmsVerifyConfig(AppConfig):
    name = "django_smsverify"
    verbose_name = _("SMS verification")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks (import for side effect).
        from django_smsverify import account_checks, checks  # noqa: F401
        from django_smsverify.delivery import set_recorder
        from django_smsverify.records import DatabaseRecorder

        set_recorder(DatabaseRecorder())

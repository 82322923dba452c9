from django.apps import AppConfig


class TutorialSiteConfig(AppConfig):
    name = "tests.tutorialsite"
    label = "tutorialsite"
    default_auto_field = "django.db.models.BigAutoField"

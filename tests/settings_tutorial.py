"""The test settings of a site adopted from the tutorial code: a custom user
model with ``mobile = CharField(max_length=11, unique=True)``, whose national
digits are where the app reads and writes numbers."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.tutorialsite.apps.TutorialSiteConfig"]
AUTH_USER_MODEL = "tutorialsite.User"
SMSVERIFY = {"USER_PHONE_FIELD": "mobile", "USER_PHONE_FORMAT": "national"}

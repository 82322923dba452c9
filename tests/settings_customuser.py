"""The test settings with a custom user model that has no username field."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.customuser.apps.CustomUserConfig"]
AUTH_USER_MODEL = "customuser.User"

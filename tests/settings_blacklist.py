"""Test settings with djangorestframework-simplejwt's token_blacklist app, for
``pytest tests/blacklist --ds=tests.settings_blacklist`` (run by
tests/test_revocation.py in a subprocess)."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_simplejwt.token_blacklist"]

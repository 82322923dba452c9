"""These tests need AUTH_USER_MODEL = "customuser.User", so they run in their own
session: ``pytest tests/customuser --ds=tests.settings_customuser`` (tox does)."""

from django.conf import settings


def pytest_ignore_collect(collection_path, config):
    return settings.AUTH_USER_MODEL != "customuser.User"

"""These tests need simplejwt's token_blacklist app installed, so they run in
their own session: ``pytest tests/blacklist --ds=tests.settings_blacklist``."""

from django.conf import settings


def pytest_ignore_collect(collection_path, config):
    return "rest_framework_simplejwt.token_blacklist" not in settings.INSTALLED_APPS

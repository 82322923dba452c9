"""PostgreSQL-only tests: collected when the suite runs on PostgreSQL
(``SMSVERIFY_TEST_DB=postgres``, as tox's ``postgres`` env does)."""

from django.conf import settings


def pytest_ignore_collect(collection_path, config):
    return settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"

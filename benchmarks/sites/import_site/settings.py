"""A tutorial site for benchmarks/import_phones.py: the tests' ``tutorialsite.User``
(``mobile = CharField(max_length=11, unique=True)``) and django-smsverify, on
the database the benchmark names.

``BENCH_DB`` is ``sqlite`` (a file at ``BENCH_SQLITE_PATH``) or ``postgres``
(the database ``BENCH_PGDATABASE`` on ``PGHOST``:``PGPORT`` as ``PGUSER``).
The benchmark creates and removes both.
"""

import os

SECRET_KEY = "benchmark-not-a-secret"  # noqa: S105
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_smsverify",
    "tests.tutorialsite.apps.TutorialSiteConfig",
]
AUTH_USER_MODEL = "tutorialsite.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SMSVERIFY = {"DEFAULT_REGION": "CN"}

if os.environ.get("BENCH_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["BENCH_PGDATABASE"],
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["BENCH_SQLITE_PATH"],
        }
    }

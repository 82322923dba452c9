"""These tests need AUTH_USER_MODEL = "tutorialsite.User", so they run in their own
session: ``pytest tests/tutorialsite --ds=tests.settings_tutorial`` (tox does).

The site is the one tutorial code leaves behind: 1,000 users who signed up
before the app was installed, each with ``mobile`` holding 11 national digits,
and a few rows no parser accepts (a digit short, a landline, letters).
"""

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password

#: What the tutorial site's users typed into ``mobile`` over the years, that
#: is not a mobile number.
BAD_ROWS = {"bad1": "1380013800", "bad2": "01088886666", "bad3": "abcdefghijk"}
MEMBERS = 1000
PASSWORD = "Old-site-passw0rd"


def pytest_ignore_collect(collection_path, config):
    return settings.AUTH_USER_MODEL != "tutorialsite.User"


def member_mobile(i: int) -> str:
    """The national digits of member ``i``: 13800000000 + i."""
    return str(13800000000 + i)


@pytest.fixture
def existing_users(db):
    """The site's users as they were before the app was installed."""
    from tests.tutorialsite.models import User

    hashed = make_password(PASSWORD)
    rows = [
        User(username=f"member{i}", mobile=member_mobile(i), password=hashed)
        for i in range(MEMBERS)
    ]
    rows += [
        User(username=name, mobile=mobile, password=hashed) for name, mobile in BAD_ROWS.items()
    ]
    User.objects.bulk_create(rows, batch_size=500)
    return User.objects


@pytest.fixture(params=["user_field", "imported"])
def site(request, settings, existing_users):
    """The site adopted either way the docs describe: the app reads and writes
    ``mobile`` (``USER_PHONE_FIELD``), or the numbers were imported into the
    app's PhoneNumber table with ``smsverify_import_phones`` (and the site's
    adapter keeps ``mobile`` filled). Yields the import command's report
    (empty for the user-field mode)."""
    import io

    from django.core.management import call_command

    if request.param == "user_field":
        assert settings.SMSVERIFY["USER_PHONE_FIELD"] == "mobile"
        yield ""
        return
    settings.SMSVERIFY = {"ADAPTER": "tests.tutorialsite.adapter.LegacyMobileAdapter"}
    out = io.StringIO()
    call_command("smsverify_import_phones", "--field", "mobile", stdout=out)
    yield out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_store():
    """Each test starts with no cooldowns or quotas left by the one before."""
    from django.core.cache import caches

    caches["default"].clear()
    yield
    caches["default"].clear()

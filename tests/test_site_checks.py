"""System checks of how a site wires the app in: PhoneBackend in
AUTHENTICATION_BACKENDS (E301), a development SMS backend in production
(W010, ``check --deploy`` only) and a Celery broker whose transport cannot be
imported (E403)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import types
from collections.abc import Iterator

import kombu
import kombu.transport
import pytest
from celery import Celery
from celery import _state as celery_state
from django.core import checks
from django.core.management import call_command
from django.http import HttpResponse
from django.urls import include, path

from django_smsverify import checks as smsverify_checks
from django_smsverify.adapter import DefaultAdapter
from django_smsverify.auth import PhoneBackend
from django_smsverify.backends.console import SmsBackend as ConsoleBackend

PHONE_BACKEND = "django_smsverify.auth.PhoneBackend"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
CONSOLE = "django_smsverify.backends.console.SmsBackend"
RONGLIAN = "django_smsverify.backends.ronglian.SmsBackend"
RONGLIAN_SETTINGS = {
    "ACCOUNT_SID": "8a216da8000000000000000000000001",
    "AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "APP_ID": "8a216da8000000000000000000000002",
    "TEMPLATE_ID": "1",
    "NOTICE_TEMPLATE_ID": {"registered": "2", "unregistered": "3", "phone_changed": "4"},
}


def ids(messages):
    return [m.id for m in messages]


def run_all(**kwargs):
    return [m for m in checks.run_checks(**kwargs) if m.id and m.id.startswith("smsverify.")]


# E301 ------------------------------------------------------------------------


class SitePhoneBackend(PhoneBackend):
    """A site's own subclass, e.g. to allow inactive users."""


class SiteLoginAdapter(DefaultAdapter):
    def login(self, request, user):
        from django.contrib.auth import login

        login(request, user, backend="tests.test_site_checks.SitePhoneBackend")


def use_urlconf(monkeypatch, settings, name, *patterns):
    """Make a URLconf module ``name`` holding ``patterns`` the site's ROOT_URLCONF."""
    module = types.ModuleType(name)
    module.urlpatterns = list(patterns)
    monkeypatch.setitem(sys.modules, name, module)
    settings.ROOT_URLCONF = name


def welcome(request):
    return HttpResponse("welcome")


PAGES = path("accounts/phone/", include("django_smsverify.urls"))
API = path("api/phone/", include("django_smsverify.contrib.rest_framework.urls"))


def test_e301_phone_backend_missing(settings):
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    messages = smsverify_checks.check_auth_backend()
    assert ids(messages) == ["smsverify.E301"]
    assert PHONE_BACKEND in messages[0].msg
    assert "anonymous" in messages[0].msg
    assert f"Add '{PHONE_BACKEND}' to AUTHENTICATION_BACKENDS, before '{MODEL_BACKEND}'" in (
        messages[0].hint
    )
    assert "allauth" in messages[0].hint
    assert "smsverify.E301" in ids(run_all())


def test_e301_passes_with_the_test_settings(settings):
    assert PHONE_BACKEND in settings.AUTHENTICATION_BACKENDS
    assert smsverify_checks.check_auth_backend() == []
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND, PHONE_BACKEND]
    assert smsverify_checks.check_auth_backend() == []


@pytest.mark.parametrize("mounted", ["pages", "api"])
def test_e301_pages_or_api_alone_need_the_backend(settings, monkeypatch, mounted):
    use_urlconf(
        monkeypatch, settings, f"site_checks_{mounted}_urls", PAGES if mounted == "pages" else API
    )
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    assert ids(smsverify_checks.check_auth_backend()) == ["smsverify.E301"]


def test_e301_not_reported_without_the_apps_urls(settings, monkeypatch):
    use_urlconf(monkeypatch, settings, "site_checks_no_app_urls", path("", welcome))
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    assert smsverify_checks.check_auth_backend() == []


def test_e301_leaves_a_broken_urlconf_to_django(settings):
    settings.ROOT_URLCONF = "tests.no_such_urlconf"
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    assert smsverify_checks.check_auth_backend() == []


def test_e301_skips_backends_that_cannot_be_imported(settings):
    settings.AUTHENTICATION_BACKENDS = ["tests.no_such_module.Backend", PHONE_BACKEND]
    assert smsverify_checks.check_auth_backend() == []
    settings.AUTHENTICATION_BACKENDS = ["tests.no_such_module.Backend"]
    assert ids(smsverify_checks.check_auth_backend()) == ["smsverify.E301"]


def test_e301_subclass_alone_with_the_default_adapter(settings):
    # The default adapter logs users in as PhoneBackend itself, whose path
    # Django's get_user() then looks for in AUTHENTICATION_BACKENDS.
    settings.AUTHENTICATION_BACKENDS = ["tests.test_site_checks.SitePhoneBackend", MODEL_BACKEND]
    messages = smsverify_checks.check_auth_backend()
    assert ids(messages) == ["smsverify.E301"]
    assert "tests.test_site_checks.SitePhoneBackend" in messages[0].msg
    assert "a subclass of PhoneBackend" in messages[0].msg
    assert PHONE_BACKEND in messages[0].hint
    assert "login()" in messages[0].hint


def test_e301_subclass_with_an_adapter_that_logs_in_with_it(settings):
    settings.AUTHENTICATION_BACKENDS = ["tests.test_site_checks.SitePhoneBackend", MODEL_BACKEND]
    settings.SMSVERIFY = {"ADAPTER": "tests.test_site_checks.SiteLoginAdapter"}
    assert smsverify_checks.check_auth_backend() == []


# W010 ------------------------------------------------------------------------


def test_w010_console_backend_set_in_production(settings):
    settings.DEBUG = False
    settings.SMS_BACKEND = CONSOLE
    messages = smsverify_checks.check_development_backend()
    assert ids(messages) == ["smsverify.W010"]
    assert f"SMS_BACKEND is '{CONSOLE}', the console backend," in messages[0].msg
    assert "prints every verification code" in messages[0].msg
    assert "not set" not in messages[0].msg
    assert "django_smsverify.backends.ronglian.SmsBackend" in messages[0].hint
    assert "django_smsverify.backends.tencent.SmsBackend" in messages[0].hint


def test_w010_sms_backend_unset_means_console(settings):
    settings.DEBUG = False
    del settings.SMS_BACKEND
    messages = smsverify_checks.check_development_backend()
    assert ids(messages) == ["smsverify.W010"]
    assert "SMS_BACKEND is not set" in messages[0].msg
    assert "the console backend (the default)" in messages[0].msg


class QuietConsole(ConsoleBackend):
    """A site's tweak of the console backend: still prints codes."""


@pytest.mark.parametrize(
    ("backend", "named"),
    [
        ("django_smsverify.backends.locmem.SmsBackend", "the locmem backend"),
        ("django_smsverify.backends.dummy.SmsBackend", "the dummy backend"),
        ("tests.test_site_checks.QuietConsole", "a subclass of the console backend"),
    ],
)
def test_w010_other_development_backends(settings, backend, named):
    settings.DEBUG = False
    settings.SMS_BACKEND = backend
    messages = smsverify_checks.check_development_backend()
    assert ids(messages) == ["smsverify.W010"]
    assert named in messages[0].msg


def test_w010_not_with_debug_or_a_real_backend(settings):
    settings.DEBUG = True
    settings.SMS_BACKEND = CONSOLE
    assert smsverify_checks.check_development_backend() == []
    settings.DEBUG = False
    settings.SMS_BACKEND = RONGLIAN
    assert smsverify_checks.check_development_backend() == []
    settings.SMS_BACKEND = "django_smsverify.backends.nope.SmsBackend"  # E001's business
    assert smsverify_checks.check_development_backend() == []


def check_output(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("check", *args, "--fail-level", "CRITICAL", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_w010_only_with_check_deploy(settings):
    # The test settings: DEBUG off and the locmem backend.
    assert "smsverify.W010" in check_output("--deploy")
    assert "smsverify.W010" not in check_output()
    assert "smsverify.W010" not in ids(run_all())
    assert "smsverify.W010" in ids(run_all(include_deployment_checks=True))


def test_w010_quiet_with_a_real_backend(settings):
    settings.SMS_BACKEND = RONGLIAN
    settings.SMSVERIFY = {"RONGLIAN": RONGLIAN_SETTINGS}
    output = check_output("--deploy")
    assert "(security.W" in output  # Django's own deployment checks did run
    assert "smsverify.W010" not in output


# E403 ------------------------------------------------------------------------


@contextlib.contextmanager
def broker(url: str | None) -> Iterator[Celery]:
    """Make a Celery app whose broker is ``url`` the current one, as a site's
    ``proj/celery.py`` does when its package imports it."""
    app = Celery("site_checks", broker=url, set_as_current=False)
    previous = celery_state._tls.current_app
    app.set_current()
    try:
        yield app
    finally:
        celery_state._set_current_app(previous)


@pytest.fixture
def celery_delivery(settings, monkeypatch):
    # Celery lets the environment's CELERY_BROKER_URL override every app's broker.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    settings.SMSVERIFY = {"DELIVERY": "celery"}
    return settings


@pytest.fixture
def without_redis(monkeypatch):
    """``import redis`` fails from now on, as in a virtualenv that has
    ``django-smsverify[celery]`` but not redis-py."""
    for name in [n for n in sys.modules if n == "redis" or n.startswith("redis.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "redis", None)


def test_without_redis_kombu_cannot_use_its_redis_transport(without_redis, monkeypatch):
    # What E403 guards against, shown on kombu itself in a fresh import of its
    # Redis transport, as a new process would do it: kombu 5.7 fails while
    # importing it, kombu versions that import cleanly refuse the connection.
    if hasattr(kombu.transport, "redis"):
        monkeypatch.setattr(kombu.transport, "redis", kombu.transport.redis)
    monkeypatch.delitem(sys.modules, "kombu.transport.redis", raising=False)
    with pytest.raises((ImportError, AttributeError)):
        open_redis_transport()


def open_redis_transport():
    transport = kombu.transport.resolve_transport("redis")
    return transport(client=kombu.Connection("redis://127.0.0.1:6379/0"))


@pytest.mark.parametrize("scheme", ["redis", "rediss", "sentinel"])
def test_e403_redis_broker_without_redis(celery_delivery, without_redis, scheme):
    with broker(f"{scheme}://:s3cret-password@redis.internal:6379/0"):
        messages = smsverify_checks.check_celery_broker()
        assert ids(messages) == ["smsverify.E403"]
        assert f"'{scheme}' transport" in messages[0].msg
        assert "the module 'redis' cannot be imported" in messages[0].msg
        assert messages[0].hint == 'pip install "celery[redis]"'
        assert "s3cret" not in messages[0].msg + messages[0].hint
        assert "redis.internal" not in messages[0].msg
        assert "smsverify.E403" in ids(run_all())


def test_e403_redis_broker_with_redis(celery_delivery):
    assert importlib.util.find_spec("redis") is not None
    with broker("redis://127.0.0.1:6379/0"):
        assert smsverify_checks.check_celery_broker() == []


def test_e403_amqp_broker_needs_nothing_more(celery_delivery, without_redis):
    with broker("amqp://guest:guest@127.0.0.1:5672//"):
        assert smsverify_checks.check_celery_broker() == []


def test_e403_no_broker_configured(celery_delivery, without_redis):
    # Celery's default broker is amqp, whose client kombu always installs.
    with broker(None):
        assert smsverify_checks.check_celery_broker() == []


def test_e403_checks_every_failover_url(celery_delivery, without_redis):
    with broker("amqp://rabbit-1//;redis://redis-1:6379/0;redis://redis-2:6379/0"):
        messages = smsverify_checks.check_celery_broker()
    assert ids(messages) == ["smsverify.E403"]  # one per transport, not per URL
    assert "'redis' transport" in messages[0].msg


def test_e403_reads_celery_broker_url_from_settings(celery_delivery, without_redis):
    # A site whose Celery app is not loaded in this process yet.
    celery_delivery.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    with broker(None):
        assert ids(smsverify_checks.check_celery_broker()) == ["smsverify.E403"]


def test_e403_not_with_sync_delivery(settings, without_redis):
    settings.SMSVERIFY = {"DELIVERY": "sync"}
    with broker("redis://127.0.0.1:6379/0"):
        assert smsverify_checks.check_celery_broker() == []


def test_e403_sqs_broker_without_boto(celery_delivery, monkeypatch):
    # As without_redis does for redis-py: boto3 cannot be imported, whether or
    # not this machine has it.
    for name in [n for n in sys.modules if n.split(".")[0] in ("boto3", "botocore")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setitem(sys.modules, "botocore", None)
    with broker("sqs://"):
        messages = smsverify_checks.check_celery_broker()
    assert ids(messages) == ["smsverify.E403"]
    assert "'sqs' transport" in messages[0].msg
    assert messages[0].hint == 'pip install "celery[sqs]"'


def test_e403_unknown_scheme(celery_delivery):
    with broker("reddis://127.0.0.1:6379/0"):
        messages = smsverify_checks.check_celery_broker()
    assert ids(messages) == ["smsverify.E403"]
    assert "'reddis' is not a transport kombu knows" in messages[0].msg


def test_e403_left_to_e402_without_celery(celery_delivery, monkeypatch):
    celery_delivery.CELERY_BROKER_URL = "reddis://127.0.0.1:6379/0"
    for name in [n for n in sys.modules if n == "celery" or n.startswith("celery.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "celery", None)
    assert smsverify_checks.check_celery_broker() == []
    assert "smsverify.E402" in ids(smsverify_checks.check_celery())

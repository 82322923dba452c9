"""Celery delivery settings: the ``SMSVERIFY["CELERY"]`` options, their system
checks (one test per id: E401, E402, W401), the missing-extra error and the
retry schedule."""

from __future__ import annotations

import importlib
import sys

import pytest
from django.core import checks

from django_smsverify import checks as smsverify_checks
from django_smsverify import delivery, tasks
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import MissingDependency
from django_smsverify.message import SmsMessage

REDIS_CACHE = {
    "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


def ids(messages):
    return [m.id for m in messages]


def run_all():
    return [m for m in checks.run_checks() if m.id and m.id.startswith("smsverify.")]


def hide_celery(monkeypatch):
    """Make ``import celery`` fail as if the extra were not installed."""
    for name in [n for n in sys.modules if n == "celery" or n.startswith("celery.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "celery", None)
    monkeypatch.delitem(sys.modules, "django_smsverify.tasks")


def test_good_celery_settings_pass(settings):
    settings.CACHES = REDIS_CACHE
    settings.SMSVERIFY = {
        "DELIVERY": "celery",
        "CELERY": {"QUEUE": "sms", "PRIORITY": 9, "MAX_RETRIES": 0, "RETRY_BACKOFF": 0.5},
    }
    assert run_all() == []


def test_options_merge_with_defaults(settings):
    settings.SMSVERIFY = {"CELERY": {"QUEUE": "sms"}}
    options = app_settings.CELERY
    assert options.QUEUE == "sms"
    assert (options.MAX_RETRIES, options.RETRY_BACKOFF, options.RETRY_BACKOFF_MAX) == (5, 2, 60)
    assert options.RETRY_JITTER is True


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("sms", "must be a dict"),
        ({"QUEUES": "sms"}, "'QUEUES'"),
        ({"QUEUE": ""}, "'QUEUE'"),
        ({"PRIORITY": 256}, "'PRIORITY'"),
        ({"MAX_RETRIES": -1}, "'MAX_RETRIES'"),
        ({"MAX_RETRIES": True}, "'MAX_RETRIES'"),
        ({"RETRY_BACKOFF": 0}, "'RETRY_BACKOFF'"),
        ({"RETRY_BACKOFF_MAX": "60"}, "'RETRY_BACKOFF_MAX'"),
        ({"RETRY_JITTER": "yes"}, "'RETRY_JITTER'"),
    ],
)
def test_e401_invalid_celery_options(settings, value, named):
    settings.SMSVERIFY = {"CELERY": value}
    messages = smsverify_checks.check_celery()
    assert ids(messages) == ["smsverify.E401"]
    assert named in messages[0].msg
    assert "smsverify.E401" in ids(run_all())


def test_e402_celery_delivery_without_celery(settings, monkeypatch):
    settings.CACHES = REDIS_CACHE
    settings.SMSVERIFY = {"DELIVERY": "celery"}
    hide_celery(monkeypatch)
    messages = smsverify_checks.check_celery()
    assert ids(messages) == ["smsverify.E402"]
    assert 'pip install "django-smsverify[celery]"' in messages[0].hint
    # Sync delivery does not need Celery.
    settings.SMSVERIFY = {"DELIVERY": "sync"}
    assert smsverify_checks.check_celery() == []


def test_w401_celery_delivery_with_a_per_process_cache(settings):
    settings.DEBUG = True  # unlike W004, this one holds in development too
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.SMSVERIFY = {"DELIVERY": "celery"}
    messages = smsverify_checks.check_celery()
    assert ids(messages) == ["smsverify.W401"]
    assert "smsverify.W401" in ids(run_all())


def test_importing_tasks_without_celery_names_the_extra(monkeypatch):
    hide_celery(monkeypatch)
    with pytest.raises(MissingDependency) as excinfo:
        importlib.import_module("django_smsverify.tasks")
    assert excinfo.value.extra == "celery"
    assert 'pip install "django-smsverify[celery]"' in str(excinfo.value)


def test_celery_dispatch_without_celery_is_a_configuration_error(settings, monkeypatch):
    settings.SMSVERIFY = {"DELIVERY": "celery"}
    hide_celery(monkeypatch)
    with pytest.raises(MissingDependency):
        delivery.dispatch(SmsMessage(to="+8613800138000", body="x"))


def test_retry_delay_grows_exponentially_up_to_the_cap(settings):
    settings.SMSVERIFY = {
        "CELERY": {"RETRY_BACKOFF": 2, "RETRY_BACKOFF_MAX": 60, "RETRY_JITTER": False}
    }
    assert [tasks.retry_delay(n) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]


def test_retry_delay_jitter_stays_in_the_upper_half(settings):
    settings.SMSVERIFY = {"CELERY": {"RETRY_BACKOFF": 2, "RETRY_BACKOFF_MAX": 60}}
    delays = [tasks.retry_delay(2) for _ in range(200)]
    assert all(4 <= d <= 8 for d in delays)
    assert len(set(delays)) > 100  # actually random, not a constant


def test_task_options_hide_the_arguments(settings):
    settings.SMSVERIFY = {"CELERY": {"QUEUE": "sms", "PRIORITY": 3}}
    assert tasks.task_options(42) == {
        "argsrepr": "()",
        "kwargsrepr": "{'record_id': 42}",
        "queue": "sms",
        "priority": 3,
    }
    settings.SMSVERIFY = {}
    assert set(tasks.task_options(None)) == {"argsrepr", "kwargsrepr"}

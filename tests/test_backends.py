"""The messaging layer: SmsMessage, the base send loop and the built-in backends."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

import django_smsverify
from django_smsverify import get_connection, send_sms
from django_smsverify.backends import console, dummy, locmem
from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.exceptions import SmsSendError
from django_smsverify.message import SmsMessage, SmsStatus
from tests.backend_contract import BackendContract, FailingBackendContract
from tests.failing_backend import CrashingBackend


class TestConsoleBackend(BackendContract):
    @pytest.fixture
    def backend_path(self):
        return "django_smsverify.backends.console.SmsBackend"

    @pytest.fixture
    def make_backend(self):
        return lambda fail_silently=False: console.SmsBackend(
            fail_silently=fail_silently, stream=io.StringIO()
        )

    def test_writes_recipient_and_text(self):
        stream = io.StringIO()
        backend = console.SmsBackend(stream=stream)
        backend.send_messages([SmsMessage(["+8613800138000"], "Your code is 042917.")])
        output = stream.getvalue()
        assert "+8613800138000" in output
        assert "Your code is 042917." in output

    def test_defaults_to_stdout(self, capsys):
        send_sms(["+8613800138000"], "hello there", connection=console.SmsBackend())
        assert "hello there" in capsys.readouterr().out

    def test_concurrent_messages_never_interleave(self):
        stream = io.StringIO()
        backend = console.SmsBackend(stream=stream)

        def worker(n):
            for i in range(20):
                backend.send_messages(
                    [SmsMessage(["+8613800138000"], f"msg-{n}-{i}\nline2-{n}-{i}")]
                )

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lines = stream.getvalue().splitlines()
        for index, line in enumerate(lines):
            if line.startswith("msg-"):
                assert lines[index + 1] == "line2-" + line[4:]
        assert sum(line.startswith("msg-") for line in lines) == 160


class TestLocmemBackend(BackendContract):
    @pytest.fixture
    def backend_path(self):
        return "django_smsverify.backends.locmem.SmsBackend"

    @pytest.fixture
    def make_backend(self):
        return lambda fail_silently=False: locmem.SmsBackend(fail_silently=fail_silently)

    def test_appends_to_outbox(self):
        send_sms("+8613800138000", "first")
        send_sms(["+8613900139000"], "second", template_id="T1", params=["1", "2"])
        assert [m.body for m in django_smsverify.outbox] == ["first", "second"]
        assert django_smsverify.outbox[1].template_id == "T1"
        assert django_smsverify.outbox[1].params == ["1", "2"]


class TestDummyBackend(BackendContract):
    @pytest.fixture
    def backend_path(self):
        return "django_smsverify.backends.dummy.SmsBackend"

    @pytest.fixture
    def make_backend(self):
        return lambda fail_silently=False: dummy.SmsBackend(fail_silently=fail_silently)

    def test_sends_nowhere(self):
        assert dummy.SmsBackend().send_messages([SmsMessage(["+8613800138000"], "x")]) == 1
        assert django_smsverify.outbox == []


class TestFailingBackend(FailingBackendContract):
    """The base class's failure handling, through a backend that always fails."""

    @pytest.fixture
    def backend_path(self):
        return "tests.failing_backend.SmsBackend"

    @pytest.fixture
    def make_backend(self):
        class Succeeding(BaseSmsBackend):
            provider_name = "ok"

            def send_message(self, message):
                return SmsStatus(
                    "sent", provider="ok", recipients=dict.fromkeys(message.to, "sent")
                )

        Succeeding.__module__ = "tests.failing_backend"
        return lambda fail_silently=False: Succeeding(fail_silently=fail_silently)

    @pytest.fixture
    def make_failing_backend(self):
        from tests.failing_backend import SmsBackend

        return lambda fail_silently=False: SmsBackend(fail_silently=fail_silently)

    def test_get_connection_loads_it(self, backend_path):
        from tests.failing_backend import SmsBackend

        assert isinstance(get_connection(backend_path), SmsBackend)


def test_default_backend_is_console(settings):
    del settings.SMS_BACKEND
    assert isinstance(get_connection(), console.SmsBackend)


def test_sms_backend_setting_is_read_at_call_time(settings):
    settings.SMS_BACKEND = "django_smsverify.backends.dummy.SmsBackend"
    assert isinstance(get_connection(), dummy.SmsBackend)


def test_unexpected_exception_becomes_send_error():
    message = SmsMessage(["+8613800138000"], "x")
    with pytest.raises(SmsSendError) as excinfo:
        CrashingBackend().send_messages([message])
    assert excinfo.value.provider == "crashing"
    assert isinstance(excinfo.value.__cause__, KeyError)
    assert message.status.status == "failed"


def test_configuration_errors_are_never_silenced():
    class Misconfigured(BaseSmsBackend):
        def send_message(self, message):
            raise ImproperlyConfigured("no credentials")

    with pytest.raises(ImproperlyConfigured):
        Misconfigured(fail_silently=True).send_messages([SmsMessage(["+8613800138000"], "x")])


def test_send_sms_returns_count_and_sets_status():
    assert send_sms(["+8613800138000", "+8613900139000"], "hello") == 1
    status = django_smsverify.outbox[0].status
    assert status.sent
    assert status.recipients == {"+8613800138000": "sent", "+8613900139000": "sent"}


def test_message_without_recipients_is_not_sent():
    assert SmsMessage([], "x").send() == 0
    assert django_smsverify.outbox == []


def test_message_repr_hides_text_and_params():
    message = SmsMessage(["+8613800138000"], "code 482913", params=["482913", "5"])
    assert "482913" not in repr(message)


def test_base_backend_requires_send_message():
    with pytest.raises(NotImplementedError):
        BaseSmsBackend().send_message(SmsMessage(["+8613800138000"], "x"))

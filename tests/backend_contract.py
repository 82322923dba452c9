"""The contract every SMS backend passes, like anymail's shared backend tests.

A backend's test class mixes in :class:`BackendContract` and provides two
fixtures: ``backend_path`` (the dotted path) and ``make_backend`` (a factory
taking ``fail_silently`` that returns a ready instance, pointed at a fake
server where needed). Backends that can fail
mix in :class:`FailingBackendContract` instead and also provide
``make_failing_backend``.
"""

from __future__ import annotations

import pytest

from django_smsverify import get_connection
from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.exceptions import SmsSendError
from django_smsverify.message import SmsMessage

PHONE = "+8613800138000"
OTHER = "+8613900139000"


def _message(to=(PHONE,), code="123456"):
    return SmsMessage(
        to=list(to),
        body=f"Your verification code is {code}.",
        params=[code, "5"],
        purpose="register",
    )


class BackendContract:
    """Behaviour shared by all backends; see the module docstring."""

    def test_is_a_base_backend(self, make_backend):
        assert isinstance(make_backend(), BaseSmsBackend)

    def test_get_connection_loads_it(self, backend_path, make_backend):
        backend = get_connection(backend_path, fail_silently=True)
        assert type(backend) is type(make_backend())
        assert backend.fail_silently is True

    def test_send_messages_counts_sent(self, make_backend):
        backend = make_backend()
        messages = [_message(), _message(to=(OTHER,), code="654321")]
        assert backend.send_messages(messages) == 2
        for message in messages:
            assert message.status is not None
            assert message.status.status == "sent"
            assert set(message.status.recipients) == set(message.to)

    def test_empty_list_sends_nothing(self, make_backend):
        assert make_backend().send_messages([]) == 0

    def test_message_without_recipients_is_skipped(self, make_backend):
        assert make_backend().send_messages([SmsMessage(to=[], body="x")]) == 0

    def test_context_manager_opens_and_closes(self, make_backend):
        with make_backend() as backend:
            assert backend.send_messages([_message()]) == 1

    def test_close_without_open_is_harmless(self, make_backend):
        make_backend().close()

    def test_message_send_uses_given_connection(self, make_backend):
        backend = make_backend()
        message = _message()
        message.connection = backend
        assert message.send() == 1


class FailingBackendContract(BackendContract):
    """The contract plus failure handling, for backends that can fail.

    Needs one more fixture, ``make_failing_backend(fail_silently)``: an
    instance whose sends fail with a permanent provider error.
    """

    def test_failure_raises_send_error(self, make_failing_backend):
        message = _message()
        with pytest.raises(SmsSendError) as excinfo:
            make_failing_backend(fail_silently=False).send_messages([message])
        assert excinfo.value.provider
        assert message.status is not None
        assert message.status.status == "failed"

    def test_failure_with_fail_silently_returns_zero(self, make_failing_backend):
        message = _message()
        assert make_failing_backend(fail_silently=True).send_messages([message]) == 0
        assert message.status.status == "failed"
        assert message.status.error is not None

    def test_failure_stops_the_batch(self, make_failing_backend):
        first, second = _message(), _message(to=(OTHER,))
        with pytest.raises(SmsSendError):
            make_failing_backend(fail_silently=False).send_messages([first, second])
        assert second.status is None

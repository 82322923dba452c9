import pytest
import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import *

def test_flow(store_cache):
    r = verification.send_code("138 0013 8000", "register", ip="1.2.3.4")
    assert r.phone == "+8613800138000"
    msg = django_smsverify.outbox[-1]
    code = msg.params[0]
    with pytest.raises(RateLimited) as ei:
        verification.send_code("+8613800138000", "register")
    assert ei.value.retry_after == 60
    with pytest.raises(CodeMismatch) as ei:
        verification.check_code("+8613800138000", "000000" if code != "000000" else "1111111", "register")
    assert ei.value.attempts_left == 4
    assert verification.check_code("+8613800138000", code, "register") == "+8613800138000"
    with pytest.raises(CodeExpired):
        verification.check_code("+8613800138000", code, "register")

"""The pages, driven as a browser without JavaScript would: one form per page,
"Send code" posting action=send_code to the page itself."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

import django_smsverify
from django_smsverify import signals
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code, solved_captcha, wrong_code

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"
PAGES = {
    "register": "/accounts/phone/register/",
    "login": "/accounts/phone/login/",
    "password_reset": "/accounts/phone/password/reset/",
    "phone_change": "/accounts/phone/change/",
}

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def send_on_page(client, page, phone=PHONE):
    data = {"action": "send_code", "phone": phone, **solved_captcha(client)}
    return client.post(PAGES[page], data)


def register(client, phone=PHONE, password=PASSWORD, **extra):
    assert send_on_page(client, "register", phone).status_code == 200
    data = {
        "phone": phone,
        "code": last_code(phone),
        "password1": password,
        "password2": password,
        **extra,
    }
    return client.post(PAGES["register"], data)


def logged_in_user(client):
    return client.get("/accounts/phone/login/").wsgi_request.user


@pytest.mark.parametrize("page", ["register", "login", "password_reset"])
def test_pages_render_accessible_fields(client, page):
    response = client.get(PAGES[page])
    html = response.content.decode()
    assert response.status_code == 200
    assert 'type="tel"' in html
    assert 'autocomplete="tel"' in html
    assert 'autocomplete="one-time-code"' in html
    assert 'inputmode="numeric"' in html
    assert '<label for="id_phone"' in html
    assert 'name="action" value="send_code"' in html
    assert "django_smsverify/smsverify.js" in html
    assert "csrfmiddlewaretoken" in html
    assert "captcha" in html


@pytest.mark.parametrize(
    "path",
    [
        PAGES["register"],
        PAGES["login"],
        PAGES["login"] + "?method=password",
        PAGES["password_reset"],
    ],
)
def test_phone_inputs_have_one_type_and_it_is_tel(client, path):
    # Two type attributes (type="text" ... type="tel") leave browsers on the
    # first, and phones show the full keyboard for a number.
    html = client.get(path).content.decode()
    inputs = re.findall(r"<input[^>]*name=\"phone\"[^>]*>", html)
    assert inputs
    for tag in inputs:
        assert re.findall(r"\btype=\"([^\"]*)\"", tag) == ["tel"], tag


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_render_in_chinese(client, page, django_user_model):
    user = django_user_model.objects.create_user(username="u", password=PASSWORD)
    client.force_login(user)
    with translation.override("zh-hans"):
        response = client.get(PAGES[page], HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert response.status_code == 200
    assert "手机号码" in html
    assert "获取验证码" in html
    assert 'lang="zh-hans"' in html


def test_send_code_without_javascript_shows_the_page_again(client):
    response = send_on_page(client, "register", "138 0013 8000")
    html = response.content.decode()
    assert response.status_code == 200
    # Masked where it says where the code went, in national format where it
    # can be edited: people recognise 138 0013 8000, not +8613800138000.
    assert "Code sent to 138****8000." in html
    assert "+8613800138000" not in html
    assert 'value="138 0013 8000"' in html
    assert 'data-resend-after="60"' in html
    assert len(django_smsverify.outbox) == 1
    again = send_on_page(client, "register")
    assert again.status_code == 429
    assert "You can ask for another code in 60 seconds." in again.content.decode()


def test_send_code_page_errors_are_shown(client):
    response = client.post(
        PAGES["register"],
        {"action": "send_code", "phone": "123", "captcha_0": "x", "captcha_1": "y"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid mobile phone number." in html
    assert django_smsverify.outbox == []


def test_register_creates_user_and_number_and_logs_in(client):
    received = []
    signals.user_registered.connect(lambda **kw: received.append(kw["phone"]), weak=False)
    try:
        response = register(client)
    finally:
        signals.user_registered.receivers.clear()
    assert response.status_code == 302
    assert response["Location"] == "/welcome/"
    user = logged_in_user(client)
    assert user.is_authenticated
    assert user.smsverify_phone.number == PHONE
    assert user.smsverify_phone.verified_at is not None
    assert user.check_password(PASSWORD)
    assert received == [PHONE]


def test_register_follows_a_safe_next_only(client):
    assert register(client, next="/dashboard/")["Location"] == "/dashboard/"
    client.logout()
    response = register(client, phone="+8613900139000", next="https://evil.example/")
    assert response["Location"] == "/welcome/"


def test_password_typo_does_not_burn_the_code(client):
    send_on_page(client, "register")
    code = last_code()
    bad = client.post(
        PAGES["register"],
        {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert bad.status_code == 400
    assert "The two passwords do not match." in bad.content.decode()
    weak = client.post(
        PAGES["register"], {"phone": PHONE, "code": code, "password1": "123", "password2": "123"}
    )
    assert weak.status_code == 400
    good = client.post(
        PAGES["register"],
        {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD},
    )
    assert good.status_code == 302


def test_wrong_code_then_too_many_attempts(client):
    send_on_page(client, "register")
    code = last_code()
    data = {"phone": PHONE, "code": wrong_code(code), "password1": PASSWORD, "password2": PASSWORD}
    first = client.post(PAGES["register"], data)
    assert first.status_code == 400
    assert "The verification code is incorrect." in first.content.decode()
    for _ in range(4):
        last = client.post(PAGES["register"], data)
    assert "Too many incorrect codes" in last.content.decode()
    data["code"] = code
    assert client.post(PAGES["register"], data).status_code == 400
    assert not get_user_model().objects.exists()


def test_sms_login(client):
    register(client)
    client.logout()
    assert send_on_page(client, "login").status_code == 200
    response = client.post(PAGES["login"], {"phone": "138 0013 8000", "code": last_code()})
    assert response.status_code == 302
    assert logged_in_user(client).smsverify_phone.number == PHONE


def test_password_login(client):
    register(client)
    client.logout()
    bad = client.post(PAGES["login"], {"method": "password", "phone": PHONE, "password": "no"})
    assert bad.status_code == 400
    assert "The number or the password is incorrect." in bad.content.decode()
    good = client.post(
        PAGES["login"] + "?next=/x/",
        {"method": "password", "phone": "13800138000", "password": PASSWORD},
    )
    assert good.status_code == 302
    assert good["Location"] == "/x/"


def test_inactive_user_cannot_log_in_by_sms(client):
    register(client)
    client.logout()
    get_user_model().objects.update(is_active=False)
    send_on_page(client, "login")
    response = client.post(PAGES["login"], {"phone": PHONE, "code": last_code()})
    assert response.status_code == 400
    assert not logged_in_user(client).is_authenticated


def test_password_reset(client):
    register(client)
    client.logout()
    send_on_page(client, "password_reset")
    new = "Another-long-passphrase-42"
    response = client.post(
        PAGES["password_reset"],
        {"phone": PHONE, "code": last_code(), "password1": new, "password2": new},
    )
    assert response.status_code == 200
    assert "Your password has been changed" in response.content.decode()
    assert get_user_model().objects.get().check_password(new)


def test_phone_change_requires_login(client):
    response = client.get(PAGES["phone_change"])
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/phone/login/?next=")


def test_phone_change(client):
    register(client)
    new = "+8613900139000"
    assert send_on_page(client, "phone_change", new).status_code == 200
    response = client.post(
        PAGES["phone_change"],
        {"phone": new, "code": last_code(new), "current_password": PASSWORD},
    )
    assert response.status_code == 200
    assert "Your phone number has been changed." in response.content.decode()
    assert PhoneNumber.objects.get().number == new


def test_phone_change_to_own_number_is_refused(client):
    register(client)
    response = send_on_page(client, "phone_change", PHONE)
    assert response.status_code == 400
    assert "This is already your number." in response.content.decode()


def test_logout_get_asks_and_only_post_logs_out(client):
    register(client)
    page = client.get("/accounts/phone/logout/?next=/welcome/")
    # A GET (a link, a prefetch) logs nobody out; it shows the button that does.
    assert page.status_code == 200
    html = page.content.decode()
    assert '<button type="submit">Log out</button>' in html
    assert 'name="next" value="/welcome/"' in html
    assert "no-cache" in page["Cache-Control"]
    assert logged_in_user(client).is_authenticated
    assert client.post("/accounts/phone/logout/").status_code == 302
    assert not logged_in_user(client).is_authenticated
    assert "You are logged out." in client.get("/accounts/phone/logout/").content.decode()
    assert client.put("/accounts/phone/logout/").status_code == 405


def test_log_out_reads_as_leaving_not_deleting_in_chinese(client):
    # 注销 (Django's own word) reads as deleting the account on mainland apps.
    register(client)
    with translation.override("zh-hans"):
        html = client.get("/accounts/phone/logout/", HTTP_ACCEPT_LANGUAGE="zh-hans").content
    html = html.decode()
    assert "退出登录" in html
    assert "注销" not in html


def test_store_down_on_a_page_is_503(client, settings):
    send_on_page(client, "register")
    code = last_code()
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    response = client.post(
        PAGES["register"],
        {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 503
    assert not get_user_model().objects.exists()


def test_key_messages_are_translated(client):
    with translation.override("zh-hans"):
        bad = client.post(
            PAGES["login"],
            {"method": "password", "phone": PHONE, "password": "x"},
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )
        page = client.get(PAGES["login"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "手机号码或密码错误。" in bad.content.decode()
    assert ">验证码" in page


def test_phone_change_page_shows_the_number_as_people_write_it(client, django_user_model):
    user = django_user_model.objects.create_user(username="u", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    client.force_login(user)
    html = client.get(PAGES["phone_change"]).content.decode()
    assert "Your number is 138 0013 8000." in html
    with translation.override("zh-hans"):
        html = client.get(PAGES["phone_change"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "138 0013 8000" in html
    assert "+8613800138000" not in html

"""Every page x {en, zh-hans} x {JavaScript on, off} x {375 px, 1280 px}.

Each case walks one page through every error a user can meet there (empty
number, malformed number, wrong captcha, wrong code, locked out, expired code,
rate-limited; wrong password where a password is asked), then the happy path,
in one browser context. Each error must show as words next to the field it is
about (inside the ``.smsverify-field`` that holds that input), or in the
form-level alert when no one field is at fault (a rate limit). Messages are
matched by meaning, in the page's language, so the wording and the way numbers
are shown may change without breaking the tests.

axe-core audits every page in each state (fresh, with errors, after the code
was sent, after success): no serious or critical violation is allowed; the
counts are listed at the end of the run ("AXE ..." lines).

With JavaScript on, the happy path saves a screenshot of each flow to
docs/_static/screenshots/<flow>-<lang>-<width>.png, shown in the quickstart.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Locator, Page, expect

import django_smsverify
from django_smsverify.models import PhoneNumber
from tests.browser.axe import AXE_RESULTS, describe, impact_counts, run_axe
from tests.browser.conftest import ARTIFACTS
from tests.helpers import last_code, wrong_code

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "screenshots"
PASSWORD = "Tr1cky-horse-battery"
NEW_PASSWORD = "Another-long-passphrase-42"
CAPTCHA_OK = "PASSED"
CAPTCHA = {"TEST_MODE": True, "TEST_ANSWER": CAPTCHA_OK}

# One number per error that leaves the number unusable for a while (locked
# out, cooldown), typed the way people type them; E.164 for the outbox.
LOCK = ("138 0013 8001", "+8613800138001")
EXPIRE = ("138 0013 8002", "+8613800138002")
HAPPY = ("138 0013 8000", "+8613800138000")
CURRENT = "+8613700137000"  # the phone change's account: its number before

PAGES = {
    "register": "/accounts/phone/register/",
    "login": "/accounts/phone/login/",
    "login-password": "/accounts/phone/login/?method=password",
    "reset": "/accounts/phone/password/reset/",
    "change": "/accounts/phone/change/",
    "logout": "/accounts/phone/logout/?next=/welcome/",
}

# What each message means, per language (regular expressions).
MESSAGES = {
    "en": {
        "empty": r"required|(enter|type).*(phone|mobile)? ?number",
        "malformed": r"valid mobile phone number",
        "captcha": r"did not match the image",
        "incorrect": r"code is incorrect",
        "locked": r"too many incorrect codes",
        "expired": r"expired",
        "cooldown": r"another code in \d+ (second|minute)",
        "too_many": r"too many requests.*\d+ (second|minute)",
        "sent": r"code sent",
        "bad_login": r"number or the password is incorrect",
        "bad_password": r"password is incorrect",
        "reset_done": r"password has been changed",
        "changed": r"number (has been changed|is now)",
        "confirm_logout": r"log out",
        "logged_out": r"logged out",
    },
    "zh-hans": {
        "empty": r"必填|请输入.*手机号",
        "malformed": r"有效的手机号",
        "captcha": r"字符与图片不符",
        "incorrect": r"验证码错误",
        "locked": r"错误次数过多",
        "expired": r"已过期",
        "cooldown": r"\d+ ?(秒|分钟)后可(以)?(再次|重新)获取验证码",
        "too_many": r"请求过于频繁.*\d+ ?(秒|分钟)",
        "sent": r"验证码已发送",
        "bad_login": r"手机号码或密码错误",
        "bad_password": r"密码错误",
        "reset_done": r"密码已修改",
        "changed": r"(手机号|号码).*(已更换|已更改|现在是|现为)",
        "confirm_logout": r"退出登录",
        "logged_out": r"已退出登录",
    },
}

LANGS = {"en": "en-US", "zh-hans": "zh-CN"}
WIDTHS = {375: 740, 1280: 800}  # viewport width: height


@dataclass
class Run:
    """One case of the matrix: a browser context and what axe found in it."""

    browser: Any
    live_server: Any
    name: str
    lang: str
    javascript: bool
    width: int
    session: str | None = None
    context: Any = None
    page: Page = None  # type: ignore[assignment]
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context = self.new_context()
        self.page = self.context.new_page()

    def new_context(self) -> Any:
        phone = self.width < 600
        context = self.browser.new_context(
            base_url=self.live_server.url,
            locale=LANGS[self.lang],  # Accept-Language; LocaleMiddleware picks it
            java_script_enabled=self.javascript,
            viewport={"width": self.width, "height": WIDTHS[self.width]},
            is_mobile=phone,
            has_touch=phone,
        )
        context.set_default_timeout(10_000)
        if self.session:
            context.add_cookies(
                [{"name": "sessionid", "value": self.session, "url": self.live_server.url}]
            )
        return context

    def text(self, meaning: str) -> re.Pattern[str]:
        return re.compile(MESSAGES[self.lang][meaning], re.IGNORECASE)

    def goto(self, path: str, page: Page | None = None) -> None:
        page = page or self.page
        if self.javascript:
            # A fresh page, as a new tab would be: no countdown kept from before.
            page.evaluate("() => { try { sessionStorage.clear(); } catch (e) {} }")
        page.goto(path)
        # The server answered in the browser's language.
        expect(page.locator("html")).to_have_attribute("lang", re.compile(self.lang, re.I))

    def reopen(self, path: str) -> None:
        """With JavaScript, a fresh page (the send button counts down on this one);
        without, the page the server just answered with sends again as it is."""
        if self.javascript:
            self.goto(path)

    def axe(self, state: str, page: Page | None = None) -> None:
        page = page or self.page
        violations = run_axe(page, javascript=self.javascript)
        counts = impact_counts(violations)
        js = "js" if self.javascript else "no-js"
        AXE_RESULTS.append(
            f"AXE {self.name}:{state} {self.lang} {js} {self.width} "
            + " ".join(f"{impact}={counts[impact]}" for impact in counts)
        )
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        if bad:
            self.failures.append(f"axe on {self.name}:{state}:\n{describe(bad)}")

    def screenshot(self, flow: str) -> None:
        if self.javascript:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{flow}-{self.lang}-{self.width}.png"))

    def finish(self) -> None:
        """Fail the case if axe found serious or critical problems on the way."""
        assert not self.failures, "\n\n".join(self.failures)


# What the user sees ------------------------------------------------------------


def field_group(page: Page, name: str) -> Locator:
    """The ``.smsverify-field`` that holds the input called ``name``."""
    return page.locator(".smsverify-field", has=page.locator(f"[name={name}]"))


def expect_at_field(run: Run, name: str, meaning: str, page: Page | None = None) -> None:
    """Shown next to the box, and read out with it (its accessible description)."""
    page = page or run.page
    expect(field_group(page, name).get_by_text(run.text(meaning)).first).to_be_visible()
    expect(page.locator(f"input[name={name}]")).to_have_accessible_description(run.text(meaning))


def expect_at_field_or_form(run: Run, name: str, meaning: str) -> None:
    """For what is about the field and the whole form at once (a lock-out
    refuses this number's codes): next to the field or in the form's alert."""
    text = run.text(meaning)
    at_field = field_group(run.page, name).get_by_text(text)
    expect(at_field.or_(form_alert(run.page).filter(has_text=text)).first).to_be_visible()


def expect_browser_refuses(page: Page, name: str) -> None:
    """A ``required`` box left empty: the browser itself stops the post, moves
    to the box and shows its own message there (with or without JavaScript)."""
    box = page.locator(f"input[name={name}]")
    expect(box).to_be_focused()
    assert box.evaluate("box => !box.validity.valid && box.validationMessage !== ''")


def form_alert(page: Page) -> Locator:
    """Alerts about the whole form: role=alert outside every field group."""
    return page.locator(
        "xpath=//form//*[@role='alert']"
        "[not(ancestor-or-self::*[contains(concat(' ', normalize-space(@class), ' '),"
        " ' smsverify-field ')])]"
    )


def expect_in_form_alert(run: Run, meaning: str, page: Page | None = None) -> None:
    page = page or run.page
    expect(form_alert(page).filter(has_text=run.text(meaning)).first).to_be_visible()


def expect_status(run: Run, meaning: str, page: Page | None = None) -> None:
    page = page or run.page
    expect(page.get_by_role("status").filter(has_text=run.text(meaning)).first).to_be_visible()


# What the user does ------------------------------------------------------------


def press_send(page: Page, typed: str, captcha: str = CAPTCHA_OK) -> None:
    """Type the number and press Send code, answering the captcha when asked."""
    page.fill("input[name=phone]", typed)
    answer = page.locator("input[name=captcha_1]")
    button = page.locator("[data-smsverify-send-button]")
    if answer.is_visible():  # always, without JavaScript
        answer.fill(captcha)
        button.click()
        return
    button.click()
    # The script shows the captcha once the number looks right, or says why not.
    phone_error = field_group(page, "phone").locator(".errorlist")
    expect(answer.or_(phone_error).first).to_be_visible()
    if answer.is_visible() and not phone_error.is_visible():
        answer.fill(captcha)
        button.click()


def fill_main(page: Page, flow: str, code: str, typed: str | None = None) -> None:
    """Fill the main form's code and the fields the page asks for besides."""
    if typed is not None:
        page.fill("input[name=phone]", typed)
    page.fill("input[name=code]", code)
    if flow in ("register", "reset"):
        page.fill("input[name=password1]", NEW_PASSWORD)
        page.fill("input[name=password2]", NEW_PASSWORD)
    if flow == "change":
        page.fill("input[name=current_password]", PASSWORD)


def submit(page: Page) -> None:
    page.click("button[value=submit]")


# Accounts ----------------------------------------------------------------------


def make_user(username: str, phone: str) -> Any:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=phone)
    return user


def session_for(user: Any) -> str:
    """A logged-in session's cookie value, without going through the pages."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def with_settings(settings: Any, **extra: Any) -> None:
    settings.SMSVERIFY = {"CAPTCHA": CAPTCHA, **extra}


# The matrix ---------------------------------------------------------------------


MATRIX = [
    pytest.param(lang, javascript, width, id=f"{lang}-{'js' if javascript else 'no-js'}-{width}")
    for lang in LANGS
    for javascript in (True, False)
    for width in WIDTHS
]


@pytest.fixture
def run_factory(request, browser, live_server):
    runs: list[Run] = []

    def make(name: str, lang: str, javascript: bool, width: int, session: str | None = None):
        run = Run(browser, live_server, name, lang, javascript, width, session)
        runs.append(run)
        return run

    yield make
    failed = getattr(request.node, "rep_call", None)
    for run in runs:
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            run.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        run.context.close()


@pytest.mark.parametrize("flow", ["register", "login", "reset", "change"])
@pytest.mark.parametrize(("lang", "javascript", "width"), MATRIX)
def test_code_page_errors_then_success(run_factory, settings, flow, lang, javascript, width):
    """A page that sends a code: each error in turn, then the happy path."""
    session = None
    if flow in ("login", "reset"):
        for number, (_, e164) in enumerate((LOCK, EXPIRE, HAPPY)):
            make_user(f"member{number}", e164)
    if flow == "change":
        session = session_for(make_user("member", CURRENT))
    run = run_factory(flow, lang, javascript, width, session)
    page = run.page
    path = PAGES[flow]

    run.goto(path)
    run.axe("fresh")

    # Empty, then malformed: said at the number, nothing sent.
    press_send(page, "")
    expect_at_field(run, "phone", "empty")
    press_send(page, "12345")
    expect_at_field(run, "phone", "malformed")

    # A wrong captcha: said at the captcha, then the right one sends the code.
    # This code lives one second, for the expiry below.
    press_send(page, EXPIRE[0], captcha="WRONG")
    expect_at_field(run, "captcha_1", "captcha")
    run.axe("captcha-error")
    with_settings(settings, CODE_TTL=1)
    press_send(page, EXPIRE[0])
    expect_status(run, "sent")
    with_settings(settings)
    expires_at = time.monotonic() + 1.1
    expiring_code = last_code(EXPIRE[1])

    # Wrong codes: "incorrect" at the code field, then locked out there.
    run.reopen(path)
    press_send(page, LOCK[0])
    expect_status(run, "sent")
    bad = wrong_code(last_code(LOCK[1]))
    fill_main(page, flow, bad, typed=LOCK[0])
    submit(page)
    expect_at_field(run, "code", "incorrect")
    for _ in range(4):
        fill_main(page, flow, bad, typed=LOCK[0])
        submit(page)
    expect_at_field_or_form(run, "code", "locked")
    run.axe("locked")

    # The right code, too late.
    time.sleep(max(0.0, expires_at - time.monotonic()))
    fill_main(page, flow, expiring_code, typed=EXPIRE[0])
    submit(page)
    expect_at_field(run, "code", "expired")

    # The happy path, with a second tab that asks again too soon.
    run.reopen(path)
    press_send(page, HAPPY[0])
    expect_status(run, "sent")
    run.axe("sent")
    run.screenshot(flow)

    other_context = run.new_context()
    other = other_context.new_page()
    run.goto(path, page=other)
    press_send(other, HAPPY[0])
    expect_in_form_alert(run, "cooldown", page=other)
    run.axe("rate-limited", page=other)
    other_context.close()

    fill_main(page, flow, last_code(HAPPY[1]), typed=HAPPY[0])
    submit(page)
    if flow in ("register", "login"):
        expect(page).to_have_url(re.compile(r"/welcome/$"))
        expect(page.locator("#phone")).to_have_text(HAPPY[1])
    elif flow == "reset":
        expect_status(run, "reset_done")
        run.axe("done")
        assert get_user_model().objects.get(username="member2").check_password(NEW_PASSWORD)
    else:
        expect_status(run, "changed")
        run.axe("done")
        assert PhoneNumber.objects.get().number == HAPPY[1]
    run.finish()


@pytest.mark.parametrize(("lang", "javascript", "width"), MATRIX)
def test_password_login_errors_then_success(run_factory, settings, lang, javascript, width):
    make_user("member", HAPPY[1])
    run = run_factory("login-password", lang, javascript, width)
    page = run.page
    path = PAGES["login-password"]

    def log_in(typed: str, password: str) -> None:
        page.fill("input[name=phone]", typed)
        page.fill("input[name=password]", password)
        submit(page)

    run.goto(path)
    run.axe("fresh")
    log_in("", PASSWORD)
    expect_browser_refuses(page, "phone")
    log_in("12345", PASSWORD)
    expect_at_field(run, "phone", "malformed")
    run.axe("phone-error")

    # Which of the two was wrong is not said: that would tell who has an account.
    log_in(HAPPY[0], "not-my-password")
    expect_in_form_alert(run, "bad_login")
    with_settings(settings, PASSWORD_LOGIN_LIMITS={"PHONE_PER_HOUR": 1, "IP_PER_HOUR": 50})
    log_in(HAPPY[0], "not-my-password-either")
    expect_in_form_alert(run, "too_many")
    run.axe("rate-limited")
    with_settings(settings)

    # A fresh page for the docs' picture: the rate-limit alert is not the flow.
    run.goto(path)
    page.fill("input[name=phone]", HAPPY[0])
    page.fill("input[name=password]", PASSWORD)
    run.screenshot("login-password")
    submit(page)
    expect(page).to_have_url(re.compile(r"/welcome/$"))
    expect(page.locator("#phone")).to_have_text(HAPPY[1])
    run.finish()


@pytest.mark.parametrize(("lang", "javascript", "width"), MATRIX)
def test_logout_asks_then_logs_out(run_factory, lang, javascript, width):
    session = session_for(make_user("member", HAPPY[1]))
    run = run_factory("logout", lang, javascript, width, session)
    page = run.page
    run.goto(PAGES["logout"])
    confirm = page.locator("form button[type=submit]")
    expect(confirm).to_have_text(run.text("confirm_logout"))
    run.axe("confirm")
    run.screenshot("logout")
    confirm.click()
    expect(page).to_have_url(re.compile(r"/welcome/$"))
    expect(page.locator("#who")).to_have_text("anonymous")

    run.goto(PAGES["logout"])
    expect_status(run, "logged_out")
    run.axe("logged-out")
    run.finish()


# Keyboard alone ------------------------------------------------------------------


def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement?.matches(s)", selector):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def keyboard_send_code(page: Page, typed: str) -> None:
    """Number, Enter; the captcha asks for the characters, type them, Enter."""
    tab_to(page, "input[name=phone]")
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    expect(page.locator("input[name=captcha_1]")).to_be_focused()
    page.keyboard.type(CAPTCHA_OK)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("flow", list(PAGES))
def test_each_page_works_with_the_keyboard_alone(run_factory, flow):
    session = None
    if flow in ("login", "login-password", "reset"):
        make_user("member", HAPPY[1])
    if flow in ("change", "logout"):
        session = session_for(make_user("member", CURRENT))
    run = run_factory(flow, "en", True, 1280, session)
    page = run.page
    run.goto(PAGES[flow])

    if flow == "logout":
        tab_to(page, "form button[type=submit]")
        page.keyboard.press("Enter")
        expect(page.locator("#who")).to_have_text("anonymous")
        return
    if flow == "login-password":
        tab_to(page, "input[name=phone]")
        page.keyboard.type(HAPPY[0])
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.locator("#phone")).to_have_text(HAPPY[1])
        return

    keyboard_send_code(page, HAPPY[0])
    expect_status(run, "sent")
    # The script puts the focus on the code box once the code is on its way.
    expect(page.locator("input[name=code]")).to_be_focused()
    page.keyboard.type(last_code(HAPPY[1]))
    if flow in ("register", "reset"):
        tab_to(page, "input[name=password1]")
        page.keyboard.type(NEW_PASSWORD)
        tab_to(page, "input[name=password2]")
        page.keyboard.type(NEW_PASSWORD)
    if flow == "change":
        tab_to(page, "input[name=current_password]")
        page.keyboard.type(PASSWORD)
    # Enter in the last box submits the form (not another "Send code").
    page.keyboard.press("Enter")
    if flow in ("register", "login"):
        expect(page.locator("#phone")).to_have_text(HAPPY[1])
    elif flow == "reset":
        expect_status(run, "reset_done")
    else:
        expect_status(run, "changed")
        assert PhoneNumber.objects.get().number == HAPPY[1]
    codes = [sms for sms in django_smsverify.outbox if HAPPY[1] in sms.to]
    assert len(codes) == 1, "Enter sent another code"

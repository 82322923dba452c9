"""captcha.js against the real endpoint: Node runs the script with a minimal DOM
stand-in and its own fetch() talking to a live test server.

Needs ``node`` (18 or newer, for fetch) on PATH; skipped without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import django_smsverify
from django_smsverify import captcha
from django_smsverify.captcha.challenge import answer_for

SCRIPT = Path(django_smsverify.__file__).parent / "static" / "django_smsverify" / "captcha.js"

# A page with one widget, reduced to what captcha.js touches. It clicks the
# refresh link and prints what the page looks like afterwards.
HARNESS = r"""
const fs = require("fs");
const [scriptPath, refreshUrl] = process.argv.slice(2);
const listeners = {};
const state = {reloaded: false, prevented: false, focused: false, events: []};
const image = {src: "/old.png", srcset: "/old.png?scale=2 2x"};
const key = {value: "old-key"};
const answer = {value: "typed", focus() { state.focused = true; }};
const container = {
  getAttribute(name) { return name === "data-refresh-url" ? refreshUrl : null; },
  querySelector(selector) {
    return {
      "[data-smsverify-captcha-image]": image,
      "[data-smsverify-captcha-key]": key,
      "[data-smsverify-captcha-answer]": answer,
    }[selector] || null;
  },
  dispatchEvent(event) { state.events.push([event.type, event.detail]); },
};
const link = {
  closest(selector) {
    if (selector === "[data-smsverify-captcha-refresh]") return link;
    if (selector === "[data-smsverify-captcha]") return container;
    return null;
  },
};
global.CustomEvent = class {
  constructor(type, init) { this.type = type; this.detail = init.detail; }
};
global.document = {addEventListener(type, fn) { listeners[type] = fn; }};
global.window = {
  fetch: (...args) => fetch(...args),
  location: {reload() { state.reloaded = true; }},
};
eval(fs.readFileSync(scriptPath, "utf8"));
listeners.click({target: link, preventDefault() { state.prevented = true; }});
setTimeout(() => {
  console.log(JSON.stringify({
    state, src: image.src, srcset: image.srcset, key: key.value, answer: answer.value,
    api: typeof window.smsverifyCaptcha.refresh,
  }));
}, 1500);
"""

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on PATH")


def run_harness(tmp_path: Path, refresh_url: str) -> dict:
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    result = subprocess.run(
        ["node", str(harness), str(SCRIPT), refresh_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_refresh_link_swaps_image_and_key_for_a_new_live_challenge(live_server, tmp_path):
    page = run_harness(tmp_path, f"{live_server.url}/accounts/phone/captcha/")
    assert page["state"]["prevented"] is True
    assert page["state"]["reloaded"] is False
    assert page["state"]["focused"] is True
    new_key = page["key"]
    assert new_key != "old-key"
    assert page["src"] == f"/accounts/phone/captcha/{new_key}.png"
    assert page["srcset"] == f"/accounts/phone/captcha/{new_key}.png?scale=2 2x"
    assert page["answer"] == ""
    assert page["state"]["events"] == [["smsverify:captcha-refreshed", {"key": new_key}]]
    assert page["api"] == "function"
    # The key the page now holds is a real, live challenge.
    assert captcha.verify(new_key, answer_for(new_key)) is True


def test_refresh_falls_back_to_reloading_the_page_when_the_endpoint_fails(
    live_server, tmp_path, settings
):
    settings.SMSVERIFY = {"CAPTCHA": {"ENABLED": False}}  # the endpoint answers 404
    page = run_harness(tmp_path, f"{live_server.url}/accounts/phone/captcha/")
    assert page["state"]["prevented"] is True
    assert page["state"]["reloaded"] is True
    assert page["key"] == "old-key"

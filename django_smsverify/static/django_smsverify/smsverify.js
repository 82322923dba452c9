/* django-smsverify: the "Send code" button, upgraded.
 *
 * Without this script the button posts the whole form with action=send_code
 * and the server shows the page again. With it, a click checks the number,
 * shows the captcha, posts to the JSON send_code endpoint, shows the server's
 * errors next to their fields and counts down from the server's resend_after
 * (or retry_after). The countdown is kept in sessionStorage, so it survives a
 * page reload. Every text comes from data-msg-* attributes, translated by the
 * server.
 */
(function () {
  "use strict";

  var PHONE_SHAPE = /^[+\uFF0B]?[0-9\uFF10-\uFF19 ()\-.]{5,31}$/;

  function format(template, seconds) {
    return template.replace("%(seconds)s", String(seconds));
  }

  function storageGet(key) {
    try {
      return JSON.parse(window.sessionStorage.getItem(key) || "null");
    } catch (e) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      if (value === null) {
        window.sessionStorage.removeItem(key);
      } else {
        window.sessionStorage.setItem(key, JSON.stringify(value));
      }
    } catch (e) {
      /* private mode: the countdown just won't survive a reload */
    }
  }

  function init(box) {
    var form = box.closest("form");
    var button = box.querySelector("[data-smsverify-send-button]");
    var status = box.querySelector("[data-smsverify-status]");
    var captchaGroup = box.querySelector("[data-smsverify-captcha-group]");
    var captcha = box.querySelector("[data-smsverify-captcha]");
    var phone = box.querySelector("input[name=phone]");
    if (!form || !button || !phone || !window.fetch) {
      return;
    }
    var purpose = box.getAttribute("data-purpose") || "";
    var storageKey = "smsverify:countdown:" + purpose;
    var label = button.textContent;
    var timer = null;
    var msg = function (name) {
      return box.getAttribute("data-msg-" + name) || "";
    };

    function field(name) {
      return form.querySelector("[name=" + name + "]");
    }

    function clearErrors() {
      var old = box.querySelectorAll("[data-smsverify-js-error]");
      for (var i = 0; i < old.length; i++) {
        old[i].parentNode.removeChild(old[i]);
      }
      phone.removeAttribute("aria-invalid");
    }

    function showError(input, text) {
      var list = document.createElement("ul");
      list.className = "errorlist";
      list.setAttribute("data-smsverify-js-error", "");
      list.setAttribute("role", "alert");
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.parentNode.insertBefore(list, input.nextSibling);
      } else {
        status.parentNode.insertBefore(list, status);
      }
    }

    function setStatus(text) {
      status.textContent = text;
    }

    function stopCountdown() {
      if (timer) {
        window.clearInterval(timer);
        timer = null;
      }
      button.disabled = false;
      button.textContent = label;
      storageSet(storageKey, null);
    }

    function runCountdown(deadline) {
      if (timer) {
        window.clearInterval(timer);
      }
      var tick = function () {
        var left = Math.ceil((deadline - Date.now()) / 1000);
        if (left <= 0) {
          stopCountdown();
          return;
        }
        button.disabled = true;
        button.textContent = format(msg("wait"), left);
      };
      tick();
      timer = window.setInterval(tick, 1000);
    }

    function startCountdown(seconds) {
      var deadline = Date.now() + seconds * 1000;
      storageSet(storageKey, { deadline: deadline, phone: phone.value });
      runCountdown(deadline);
    }

    function refreshCaptcha() {
      if (captcha && window.smsverifyCaptcha) {
        window.smsverifyCaptcha.refresh(captcha).catch(function () {});
      }
    }

    function showCaptcha() {
      if (captcha && captchaGroup && captchaGroup.hidden) {
        captchaGroup.hidden = false;
        return true;
      }
      return false;
    }

    function captchaAnswer() {
      return captcha ? captcha.querySelector("[data-smsverify-captcha-answer]") : null;
    }

    function handleErrors(errors) {
      var names = Object.keys(errors || {});
      for (var i = 0; i < names.length; i++) {
        var name = names[i];
        var text = errors[name].join(" ");
        if (name === "phone") {
          showError(phone, text);
        } else if (name === "captcha") {
          showError(captchaAnswer(), text);
        } else {
          showError(null, text);
        }
      }
    }

    function send() {
      var body = new FormData();
      body.append("phone", phone.value);
      body.append("purpose", purpose);
      var key = field("captcha_0");
      var answer = field("captcha_1");
      if (key) {
        body.append("captcha_0", key.value);
      }
      if (answer) {
        body.append("captcha_1", answer.value);
      }
      var token = field("csrfmiddlewaretoken");
      button.disabled = true;
      return window
        .fetch(box.getAttribute("data-url"), {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: {
            Accept: "application/json",
            "X-CSRFToken": token ? token.value : ""
          }
        })
        .then(function (response) {
          return response.json().then(function (data) {
            return { status: response.status, data: data };
          });
        })
        .then(function (result) {
          var data = result.data || {};
          refreshCaptcha();
          if (data.ok) {
            // "uncertain": the provider did not confirm; the code may still come.
            setStatus(data.delivery === "uncertain" && data.message ? data.message : msg("sent"));
            startCountdown(data.resend_after || 60);
            var code = field("code");
            if (code) {
              code.focus();
            }
            return;
          }
          button.disabled = false;
          handleErrors(data.errors);
          if (result.status === 429 && data.retry_after) {
            startCountdown(data.retry_after);
          }
        })
        .catch(function () {
          button.disabled = false;
          refreshCaptcha();
          showError(null, msg("network"));
        });
    }

    button.addEventListener("click", function (event) {
      event.preventDefault();
      clearErrors();
      setStatus("");
      if (!PHONE_SHAPE.test(phone.value.trim())) {
        showError(phone, msg("invalid-phone"));
        phone.focus();
        return;
      }
      var answer = captchaAnswer();
      if (showCaptcha() || (answer && !answer.value.trim())) {
        setStatus(msg("solve-captcha"));
        if (answer) {
          answer.focus();
        }
        return;
      }
      send();
    });

    // Enter in the captcha box sends the code rather than the whole form.
    if (captcha) {
      captcha.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          button.click();
        }
      });
    }

    var statusUrl = box.getAttribute("data-status-url");
    if (statusUrl) {
      phone.addEventListener("blur", function () {
        if (!PHONE_SHAPE.test(phone.value.trim())) {
          return;
        }
        window
          .fetch(statusUrl + "?phone=" + encodeURIComponent(phone.value), {
            headers: { Accept: "application/json" },
            credentials: "same-origin"
          })
          .then(function (response) {
            return response.json();
          })
          .then(function (data) {
            clearErrors();
            if (!data.ok) {
              return;
            }
            var wantsNew = purpose === "register" || purpose === "change_phone";
            if (wantsNew && data.registered) {
              showError(phone, msg("registered"));
            } else if (!wantsNew && !data.registered) {
              showError(phone, msg("unregistered"));
            }
          })
          .catch(function () {});
      });
    }

    // The captcha waits until the number looks right, unless the server
    // already has something to say about it.
    if (captcha && captchaGroup && !captchaGroup.querySelector(".errorlist")) {
      captchaGroup.hidden = true;
    }

    var serverWait = parseInt(box.getAttribute("data-resend-after"), 10);
    var saved = storageGet(storageKey);
    if (serverWait > 0) {
      startCountdown(serverWait);
    } else if (saved && saved.deadline > Date.now()) {
      if (!phone.value && saved.phone) {
        phone.value = saved.phone;
      }
      runCountdown(saved.deadline);
    }
  }

  function start() {
    var boxes = document.querySelectorAll("[data-smsverify-send]");
    for (var i = 0; i < boxes.length; i++) {
      init(boxes[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

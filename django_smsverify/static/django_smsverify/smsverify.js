/* django-smsverify: the "Send code" button and the page's form, upgraded.
 *
 * Without this script the button posts the whole form with action=send_code
 * and the server shows the page again. With it, a click checks the number,
 * shows the captcha, posts to the JSON send_code endpoint, shows the server's
 * errors next to their fields and counts down from the server's resend_after
 * (or retry_after, or the lock-out's wait in data-resend-after). The
 * countdown is kept in sessionStorage, so it survives a page reload. Every
 * text comes from data-msg-* attributes, translated by the server.
 *
 * The main submit keeps what was typed. Browsers and Django never send a
 * password back into a page, so a plain post that fails (a wrong code, say)
 * would empty the password boxes. Here the form is posted with fetch instead:
 * the same URL and the same urlencoded body a plain submit sends. A redirect
 * is followed; any other answer is the page the server would have shown, and
 * its part of the page replaces ours, with every value typed here put back,
 * except a code the server refused (that one is cleared and focused). If the
 * request cannot be made at all, the form is submitted the plain way.
 * Without JavaScript the page works as before, and the password boxes come
 * back empty.
 */
(function () {
  "use strict";

  var PHONE_SHAPE = /^\+?[0-9 ()\-.]{5,31}$/;
  var CN_MOBILE = /^1[3-9][0-9]{9}$/;
  var LONG_WAIT = 90;
  var CAPTCHA_MAX_AGE = 240000; // ms; a challenge lives 300 s on the server
  var instances = [];

  // What the server's NFKC does to text from Chinese IMEs: full-width digits,
  // plus sign, spaces, dashes, dots and brackets become ASCII.
  function fold(text) {
    if (text.normalize) {
      return text.normalize("NFKC");
    }
    return text.replace(/[\uFF01-\uFF5E]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    }).replace(/\u3000/g, " ");
  }

  /* Whether the server may accept `text` as a mobile number (`region` is the
   * site's default region). Refuses only what the server surely refuses: any
   * text outside the server's characters, and, for numbers in China (+86, or
   * no country code on a site whose default region is CN), anything but 11
   * digits starting 13 to 19. Other countries are left to the server. */
  function looksValid(text, region) {
    var folded = fold(String(text || "")).trim();
    if (!PHONE_SHAPE.test(folded)) {
      return false;
    }
    var digits = folded.replace(/[^0-9]/g, "");
    var national;
    if (folded.charAt(0) === "+") {
      if (digits.indexOf("0086") === 0) {
        national = digits.slice(4);
      } else if (digits.indexOf("86") === 0) {
        national = digits.slice(2);
      } else {
        return true;
      }
    } else if (String(region || "").toUpperCase() !== "CN") {
      return true;
    } else if (digits.indexOf("0086") === 0) {
      national = digits.slice(4);
    } else if (digits.indexOf("00") === 0) {
      return true; // another country's code after the international prefix
    } else if (digits.length === 13 && digits.indexOf("86") === 0) {
      national = digits.slice(2);
    } else {
      national = digits;
    }
    if (national.length === 12 && national.charAt(0) === "0") {
      national = national.slice(1); // the trunk prefix: 0138 0013 8000
    }
    return CN_MOBILE.test(national);
  }

  // One spelling per number, to tell whether the countdown is for the
  // number in the box.
  function numberKey(text) {
    var digits = fold(String(text || "")).replace(/[^0-9]/g, "");
    var match = /^(?:0086|86)?0?(1[3-9][0-9]{9})$/.exec(digits);
    return match ? match[1] : digits;
  }

  function format(template, name, value) {
    return template.replace("%(" + name + ")s", String(value));
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
      return null;
    }
    var purpose = box.getAttribute("data-purpose") || "";
    var region = box.getAttribute("data-region") || "";
    var storageKey = "smsverify:countdown:" + purpose;
    var label = button.textContent;
    var timer = null;
    var deadline = 0;
    var countdownPhone = null;
    // The challenge on the page: when it came, and whether a send used it.
    var captchaLoaded = Date.now();
    var captchaUsed = false;
    var refreshing = false;
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
      var described = box.querySelectorAll("[aria-describedby*='_js_error']");
      for (var j = 0; j < described.length; j++) {
        var rest = described[j]
          .getAttribute("aria-describedby")
          .split(" ")
          .filter(function (id) {
            return id && id.slice(-9) !== "_js_error";
          });
        if (rest.length) {
          described[j].setAttribute("aria-describedby", rest.join(" "));
        } else {
          described[j].removeAttribute("aria-describedby");
        }
        described[j].removeAttribute("aria-invalid");
      }
    }

    function showError(input, text) {
      // role=alert on a wrapper: on the <ul> itself it would take the list
      // role away, and its item would be announced out of any list.
      var wrapper = document.createElement("div");
      wrapper.setAttribute("data-smsverify-js-error", "");
      wrapper.setAttribute("role", "alert");
      var list = document.createElement("ul");
      list.className = "errorlist";
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
      wrapper.appendChild(list);
      if (input) {
        // Read out with the field when it gets focus, as Django does for its own errors.
        list.id = (input.id || input.name) + "_js_error";
        var describedBy = input.getAttribute("aria-describedby");
        input.setAttribute("aria-describedby", (describedBy ? describedBy + " " : "") + list.id);
        input.setAttribute("aria-invalid", "true");
        input.parentNode.insertBefore(wrapper, input.nextSibling);
      } else {
        status.parentNode.insertBefore(wrapper, status);
      }
    }

    function setStatus(text) {
      status.textContent = text;
    }

    function waitLabel(left) {
      if (left > LONG_WAIT && msg("wait-minutes")) {
        return format(msg("wait-minutes"), "minutes", Math.ceil(left / 60));
      }
      return format(msg("wait"), "seconds", left);
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

    function tick() {
      var left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) {
        stopCountdown();
        return;
      }
      // The wait is for one number: another one may be sent to now.
      if (countdownPhone && numberKey(phone.value) !== numberKey(countdownPhone)) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.disabled = true;
      button.textContent = waitLabel(left);
    }

    function runCountdown(until, forPhone) {
      if (timer) {
        window.clearInterval(timer);
      }
      deadline = until;
      countdownPhone = forPhone || null;
      tick();
      timer = window.setInterval(tick, 1000);
    }

    function startCountdown(seconds) {
      var until = Date.now() + seconds * 1000;
      storageSet(storageKey, { deadline: until, phone: phone.value });
      runCountdown(until, phone.value);
    }

    function refreshCaptcha() {
      if (captcha && window.smsverifyCaptcha) {
        return window.smsverifyCaptcha.refresh(captcha);
      }
      return Promise.reject(new Error("no captcha"));
    }

    function captchaAnswer() {
      return captcha ? captcha.querySelector("[data-smsverify-captcha-answer]") : null;
    }

    function focusAnswer() {
      var answer = captchaAnswer();
      if (answer) {
        answer.focus();
      }
    }

    // Shows the captcha; a challenge a send used, or one that may have
    // expired, is replaced first, so the key posted is always the one shown.
    function revealCaptcha() {
      var stale = captchaUsed || Date.now() - captchaLoaded > CAPTCHA_MAX_AGE;
      if (!stale || !window.smsverifyCaptcha) {
        captchaGroup.hidden = false;
        focusAnswer();
        return;
      }
      refreshing = true;
      var done = function () {
        refreshing = false;
        captchaGroup.hidden = false;
        focusAnswer();
      };
      refreshCaptcha().then(done, done);
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
          if (captcha) {
            captchaUsed = true;
          }
          if (data.ok) {
            // The captcha is done with until another code is asked for; a
            // new challenge is fetched then, not now.
            if (captchaGroup) {
              captchaGroup.hidden = true;
            }
            // "uncertain": the provider did not confirm; the code may still come.
            setStatus(data.delivery === "uncertain" && data.message ? data.message : msg("sent"));
            startCountdown(data.resend_after || 60);
            var code = field("code");
            if (code) {
              code.focus();
            }
            return;
          }
          refreshCaptcha().catch(function () {});
          button.disabled = false;
          handleErrors(data.errors);
          if (result.status === 429 && data.retry_after) {
            startCountdown(data.retry_after);
          }
        })
        .catch(function () {
          button.disabled = false;
          refreshCaptcha().catch(function () {});
          showError(null, msg("network"));
        });
    }

    function onClick(event) {
      event.preventDefault();
      clearErrors();
      setStatus("");
      if (!looksValid(phone.value, region)) {
        showError(phone, msg("invalid-phone"));
        phone.focus();
        return;
      }
      if (refreshing) {
        return;
      }
      var answer = captchaAnswer();
      if (captcha && captchaGroup && captchaGroup.hidden) {
        setStatus(msg("solve-captcha"));
        revealCaptcha();
        return;
      }
      if (answer && !answer.value.trim()) {
        setStatus(msg("solve-captcha"));
        answer.focus();
        return;
      }
      send();
    }
    button.addEventListener("click", onClick);

    // Enter in the captcha box sends the code rather than the whole form.
    if (captcha) {
      captcha.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && event.target === captchaAnswer()) {
          event.preventDefault();
          button.click();
        }
      });
      captcha.addEventListener("smsverify:captcha-refreshed", function () {
        captchaLoaded = Date.now();
        captchaUsed = false;
      });
    }

    phone.addEventListener("input", function () {
      if (timer) {
        tick();
      }
    });

    var statusUrl = box.getAttribute("data-status-url");
    if (statusUrl) {
      phone.addEventListener("blur", function () {
        if (!looksValid(phone.value, region)) {
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
      runCountdown(saved.deadline, saved.phone);
    }

    return {
      box: box,
      // Enter in the number box asks for a code, as the button does.
      owns: function (element) {
        return box.contains(element);
      },
      send: function () {
        button.click();
      },
      destroy: function () {
        if (timer) {
          window.clearInterval(timer);
          timer = null;
        }
      }
    };
  }

  // Main form -------------------------------------------------------------

  function inputs(root) {
    return root.querySelectorAll("input[name], select[name], textarea[name]");
  }

  function isTyped(element) {
    var type = (element.type || "").toLowerCase();
    if (["hidden", "submit", "button", "reset", "image", "file"].indexOf(type) >= 0) {
      return false;
    }
    // A new challenge comes with the new page; its answer box starts empty.
    return !element.hasAttribute("data-smsverify-captcha-answer");
  }

  function typedValues(root) {
    var values = {};
    var list = inputs(root);
    for (var i = 0; i < list.length; i++) {
      var element = list[i];
      if (!isTyped(element)) {
        continue;
      }
      (values[element.name] = values[element.name] || []).push(
        element.type === "checkbox" || element.type === "radio" ? element.checked : element.value
      );
    }
    return values;
  }

  function hasError(element) {
    if (element.getAttribute("aria-invalid") === "true") {
      return true;
    }
    var group = element.closest(".smsverify-field");
    return !!(group && group.querySelector(".errorlist"));
  }

  // `sent` is what was posted: a refused code is cleared unless it was
  // already retyped while the answer was on its way.
  function putBack(root, values, sent) {
    var seen = {};
    var list = inputs(root);
    for (var i = 0; i < list.length; i++) {
      var element = list[i];
      if (!isTyped(element) || !values[element.name]) {
        continue;
      }
      var index = seen[element.name] || 0;
      seen[element.name] = index + 1;
      if (index >= values[element.name].length) {
        continue;
      }
      var value = values[element.name][index];
      if (element.type === "checkbox" || element.type === "radio") {
        element.checked = value;
      } else if (
        element.getAttribute("autocomplete") === "one-time-code" &&
        hasError(element) &&
        sent[element.name] &&
        sent[element.name][index] === value
      ) {
        element.value = ""; // a refused code is of no use; the next one goes here
      } else {
        element.value = value;
      }
    }
  }

  function focusFirstMessage(root) {
    var list = inputs(root);
    for (var i = 0; i < list.length; i++) {
      if (isTyped(list[i]) && hasError(list[i]) && !list[i].closest("[hidden]")) {
        list[i].focus();
        return;
      }
    }
    var notices = root.querySelectorAll("[role=alert], [role=status]");
    for (var j = 0; j < notices.length; j++) {
      if (notices[j].textContent.trim() && !notices[j].closest("[hidden]")) {
        notices[j].setAttribute("tabindex", "-1");
        notices[j].focus();
        return;
      }
    }
  }

  function replaceDocument(html) {
    document.open();
    document.write(html);
    document.close();
  }

  function show(form, html, sent) {
    var doc = new window.DOMParser().parseFromString(html, "text/html");
    var region = form.closest("[data-smsverify-page], main");
    var fresh = doc.querySelector("[data-smsverify-page]") || doc.querySelector("main");
    if (!region || !fresh) {
      replaceDocument(html); // not one of our pages (a CSRF failure, say)
      return;
    }
    var values = typedValues(form);
    // Scripts on the page already run; the copies in the answer must not.
    var scripts = fresh.querySelectorAll("script");
    for (var i = 0; i < scripts.length; i++) {
      scripts[i].parentNode.removeChild(scripts[i]);
    }
    fresh = document.importNode(fresh, true);
    region.parentNode.replaceChild(fresh, region);
    var newForm = fresh.querySelector("form");
    if (newForm) {
      putBack(newForm, values, sent);
    }
    if (doc.title) {
      document.title = doc.title;
    }
    start();
    focusFirstMessage(fresh);
  }

  function plainSubmit(form, submitter) {
    form.setAttribute("data-smsverify-plain", "");
    if (form.requestSubmit) {
      form.requestSubmit(submitter || undefined);
      return;
    }
    if (submitter && submitter.name) {
      var extra = document.createElement("input");
      extra.type = "hidden";
      extra.name = submitter.name;
      extra.value = submitter.value;
      form.appendChild(extra);
    }
    form.submit();
  }

  function post(form, submitter) {
    var sent = typedValues(form);
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    var body = new URLSearchParams();
    data.forEach(function (value, name) {
      body.append(name, value);
    });
    // Not form.action: the buttons named "action" shadow that property.
    var url =
      (submitter && submitter.getAttribute("formaction")) ||
      form.getAttribute("action") ||
      window.location.href;
    // Typing into a form that is about to be replaced would be lost: the
    // boxes wait (read-only) until the answer is in.
    var frozen = [];
    var list = inputs(form);
    for (var i = 0; i < list.length; i++) {
      if (isTyped(list[i]) && !list[i].readOnly) {
        list[i].readOnly = true;
        frozen.push(list[i]);
      }
    }
    form.setAttribute("aria-busy", "true");
    if (submitter) {
      submitter.disabled = true;
    }
    var settle = function () {
      form.removeAttribute("aria-busy");
      for (var j = 0; j < frozen.length; j++) {
        frozen[j].readOnly = false;
      }
      if (submitter) {
        submitter.disabled = false;
      }
    };
    window
      .fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "text/html" }
      })
      .then(function (response) {
        return response.text().then(function (text) {
          return { response: response, text: text };
        });
      })
      .then(
        function (answer) {
          settle();
          if (answer.response.redirected) {
            window.location.assign(answer.response.url);
          } else {
            show(form, answer.text, sent);
          }
        },
        function () {
          settle();
          plainSubmit(form, submitter);
        }
      );
  }

  function enhance(form) {
    if (form.hasAttribute("data-smsverify-enhanced") || !window.fetch || !window.DOMParser) {
      return;
    }
    form.setAttribute("data-smsverify-enhanced", "");
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented || form.hasAttribute("data-smsverify-plain")) {
        return;
      }
      var submitter = event.submitter || null;
      var action = submitter && submitter.name === "action" ? submitter.value : "";
      if (action === "send_code" || action === "new_captcha") {
        // Enter in a box reaches the form's first button (the hidden
        // default one asks for a code): send from the number and captcha,
        // submit the form from anywhere else.
        event.preventDefault();
        var active = document.activeElement;
        for (var i = 0; i < instances.length; i++) {
          if (instances[i].owns(active)) {
            instances[i].send();
            return;
          }
        }
        var main = form.querySelector("button[name=action][value=submit]");
        if (main) {
          post(form, main);
        }
        return;
      }
      event.preventDefault();
      post(form, submitter);
    });
  }

  function start() {
    var resets = document.querySelectorAll("[data-smsverify-reset-countdown]");
    for (var r = 0; r < resets.length; r++) {
      storageSet("smsverify:countdown:" + resets[r].getAttribute("data-smsverify-reset-countdown"), null);
    }
    var alive = [];
    for (var k = 0; k < instances.length; k++) {
      if (document.contains(instances[k].box)) {
        alive.push(instances[k]);
      } else {
        instances[k].destroy();
      }
    }
    instances = alive;
    var boxes = document.querySelectorAll("[data-smsverify-send]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].hasAttribute("data-smsverify-ready")) {
        continue;
      }
      boxes[i].setAttribute("data-smsverify-ready", "");
      var instance = init(boxes[i]);
      if (instance) {
        instances.push(instance);
        enhance(instance.box.closest("form"));
      }
    }
  }

  window.smsverifyPhone = { looksValid: looksValid };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/* django-smsverify captcha widget: "Show another image" without reloading.
 *
 * Without this script the refresh control is a submit button
 * (action=new_captcha) that posts the form, and the page comes back with
 * what was typed and a new challenge (an older widget's plain link reloads
 * the page). With it, a click fetches a new challenge from the widget's
 * data-refresh-url and swaps the image and the hidden key; the answer box is
 * emptied, so the key and the answer posted next always belong together.
 * Clicks are caught on the document, so widgets added later work as well.
 * Other scripts may call window.smsverifyCaptcha.refresh(container), e.g.
 * after the server said the answer was wrong (a challenge is good once).
 */
(function () {
  "use strict";

  function refresh(container) {
    var url = container.getAttribute("data-refresh-url");
    var image = container.querySelector("[data-smsverify-captcha-image]");
    var key = container.querySelector("[data-smsverify-captcha-key]");
    var answer = container.querySelector("[data-smsverify-captcha-answer]");
    if (!url || !image || !key || !window.fetch) {
      return Promise.reject(new Error("captcha refresh unsupported"));
    }
    return window
      .fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store"
      })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("captcha refresh failed: " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        // srcset first: a browser that uses it would otherwise fetch the old 2x image.
        image.srcset = data.image_url_2x + " 2x";
        image.src = data.image_url;
        key.value = data.key;
        if (answer) {
          answer.value = "";
        }
        container.dispatchEvent(
          new CustomEvent("smsverify:captcha-refreshed", {
            bubbles: true,
            detail: { key: data.key }
          })
        );
        return data;
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var link = target && target.closest ? target.closest("[data-smsverify-captcha-refresh]") : null;
    var container = link ? link.closest("[data-smsverify-captcha]") : null;
    if (!container) {
      return;
    }
    if (event.detail === 0 && document.activeElement !== link && link.form) {
      // Enter in another box of the form "clicks" its first submit button,
      // which may be this one: submit the form as its next button would.
      var buttons = link.form.querySelectorAll("button, input[type=submit]");
      for (var i = 0; i < buttons.length; i++) {
        var other = buttons[i];
        if (other.type === "submit" && !other.disabled && !other.closest("[data-smsverify-captcha]")) {
          event.preventDefault();
          other.click();
          return;
        }
      }
      return;
    }
    event.preventDefault();
    refresh(container)
      .then(function () {
        var answer = container.querySelector("[data-smsverify-captcha-answer]");
        if (answer) {
          answer.focus();
        }
      })
      .catch(function () {
        // Do what the control does without JavaScript.
        if (link.form && link.type === "submit") {
          link.form.setAttribute("data-smsverify-plain", "");
          if (link.form.requestSubmit) {
            link.form.requestSubmit(link);
            return;
          }
        }
        window.location.reload();
      });
  });

  window.smsverifyCaptcha = { refresh: refresh };
})();

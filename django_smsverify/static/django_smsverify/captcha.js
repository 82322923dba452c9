/* django-smsverify captcha widget: "Show another image" without reloading.
 *
 * Without this script the refresh link is a plain link to the current page,
 * which renders a new challenge too. With it, a click fetches a new challenge
 * from the widget's data-refresh-url and swaps the image and the hidden key.
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
    event.preventDefault();
    refresh(container)
      .then(function () {
        var answer = container.querySelector("[data-smsverify-captcha-answer]");
        if (answer) {
          answer.focus();
        }
      })
      .catch(function () {
        // Do what the link does without JavaScript.
        window.location.reload();
      });
  });

  window.smsverifyCaptcha = { refresh: refresh };
})();

/* Cart page: change a quantity or remove a line without reloading the page (progressive
 * enhancement). Without JavaScript every control is a plain POST form (POST-redirect-GET).
 * With it, the same form is sent with fetch; a successful change redirects to the cart page
 * (fetch follows it), a refused one answers the cart page with the error at its line; either
 * way the lines, the totals, the free-shipping hint and the header's count are swapped in.
 * Any network failure falls back to the plain form. No inline script (CSP). */
(function () {
  "use strict";
  var root = document.getElementById("cart-root");
  if (!root || !window.fetch || !window.DOMParser || !window.FormData) return;
  var announce = document.getElementById("cart-announce");
  var busy = false;
  var timer = null;

  function enhance() {
    // the quantity box sends itself when it changes; the Update buttons are not needed
    Array.prototype.forEach.call(root.querySelectorAll("[data-update]"), function (b) { b.hidden = true; });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("cart-root");
    if (!fresh) return false;
    root.replaceChildren.apply(root, Array.prototype.slice.call(fresh.childNodes).map(function (node) {
      return document.importNode(node, true);
    }));
    var link = doc.getElementById("cart-link");
    var current = document.getElementById("cart-link");
    if (link && current) current.replaceWith(document.importNode(link, true));
    var messages = document.querySelector("main .messages");
    if (messages) messages.remove();
    enhance();
    return true;
  }

  function send(form, submitter, focusSku) {
    if (busy) return;
    busy = true;
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    root.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    })
      .then(function (response) {
        if (response.status >= 500) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        if (!swap(html)) throw new Error("no cart");
        var line = focusSku && root.querySelector('[data-sku="' + focusSku.replace(/["\\]/g, "") + '"]');
        var error = line && line.querySelector(".cart-line-error");
        var target = line ? line.querySelector(".qty") : root.querySelector("h1");
        if (target) {
          if (target.tagName === "H1") target.setAttribute("tabindex", "-1");
          target.focus({ preventScroll: true });
        }
        if (announce) {
          var total = document.getElementById("total-total");
          announce.textContent = error ? error.textContent : (total ? total.textContent : "");
        }
        window.dispatchEvent(new CustomEvent("cart:updated"));
      })
      .catch(function () {
        busy = false;
        form.submit();
      })
      .finally(function () {
        busy = false;
        root.removeAttribute("aria-busy");
      });
  }

  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute("data-cart-form")) return;
    event.preventDefault();
    var line = form.closest(".cart-line");
    send(form, event.submitter, line ? line.getAttribute("data-sku") : null);
  });

  root.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || !input.classList || !input.classList.contains("qty")) return;
    var form = input.form;
    if (!form) return;
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      var line = form.closest(".cart-line");
      send(form, null, line ? line.getAttribute("data-sku") : null);
    }, 250);
  });

  enhance();
})();

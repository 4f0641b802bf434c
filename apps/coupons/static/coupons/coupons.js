/* Coupon zone: claim without reloading the page, and count down to a campaign's start.
 * Without JavaScript each Claim button is a plain POST form (POST-redirect-GET with a
 * message) and a campaign not started shows its start time. With it, the same form is sent
 * with fetch asking for JSON; the answer updates the button, the remaining count and the
 * error line of that campaign. A network failure falls back to the plain form.
 * The countdown uses the server's clock (data-now) so a wrong device clock does not open
 * the button early. No inline script (CSP). */
(function () {
  "use strict";
  var root = document.getElementById("coupon-zone");
  if (!root) return;
  var labels = document.getElementById("claim-labels");
  var announce = document.getElementById("coupon-announce");
  var serverNow = Date.parse(root.getAttribute("data-now") || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function label(name) { return labels ? labels.getAttribute("data-" + name) || "" : ""; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // --- countdown to the start ------------------------------------------------------
  var timers = Array.prototype.slice.call(root.querySelectorAll("time[data-countdown]"));
  function tick() {
    var now = Date.now() + skew;
    timers = timers.filter(function (time) {
      var card = time.closest(".coupon-card");
      // rounded up: the button opens at the start, never up to a second before it
      var left = Math.ceil((Date.parse(time.getAttribute("datetime")) - now) / 1000);
      var caption = card && card.querySelector("[data-countdown-label]");
      if (left <= 0) {
        time.textContent = time.getAttribute("data-open");
        var button = card && card.querySelector("button[data-opens]");
        if (button) {
          button.disabled = false;
          button.removeAttribute("data-opens");
          button.textContent = label("claim");
        }
        if (caption) caption.closest(".coupon-starts").hidden = true;
        return false;
      }
      var days = Math.floor(left / 86400);
      var clockText = pad(Math.floor((left % 86400) / 3600)) + ":" + pad(Math.floor((left % 3600) / 60)) + ":" + pad(left % 60);
      time.textContent = (days ? time.getAttribute("data-days").replace("{n}", String(days)) + " " : "") + clockText;
      if (caption) caption.textContent = caption.getAttribute("data-label-running");
      return true;
    });
    if (timers.length) window.setTimeout(tick, 1000 - ((Date.now() + skew) % 1000));
  }
  if (timers.length) tick();

  // --- claim without a reload ------------------------------------------------------
  if (!window.fetch || !window.FormData) return;
  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute("data-claim")) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (!button || button.disabled) return;
    var card = form.closest(".coupon-card");
    var error = card.querySelector("[data-error]");
    var remaining = card.querySelector("[data-remaining]");
    button.disabled = true;
    card.setAttribute("aria-busy", "true");
    error.hidden = true;
    error.textContent = "";
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.status >= 500 || type.indexOf("application/json") === -1) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (answer) {
        if (remaining && answer.remaining_text) remaining.textContent = answer.remaining_text;
        if (answer.ok) {
          var key = form.querySelector("input[name=request_key]");
          if (key && answer.request_key) key.value = answer.request_key;
          button.textContent = answer.claimed ? label("claimed") : label("claim");
          button.disabled = !!answer.claimed;
          if (answer.claimed) card.classList.add("is-claimed");
        } else {
          error.textContent = answer.message || label("failed");
          error.hidden = false;
          if (answer.code === "coupon.sold_out") {
            button.textContent = label("sold-out");
          } else if (answer.code === "coupon.already_claimed") {
            button.textContent = label("claimed");
            card.classList.add("is-claimed");
          } else {
            button.disabled = false;
          }
        }
        if (announce) announce.textContent = answer.message || "";
      })
      .catch(function () {
        form.submit();
      })
      .finally(function () {
        card.removeAttribute("aria-busy");
      });
  });
})();

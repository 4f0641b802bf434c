/* Wallet top-up form: a quick-amount button puts its amount in the box (without
 * JavaScript it is a submit button that asks the server to do the same; nothing is
 * charged either way), and the form is sent once. No inline script (CSP). */
(function () {
  "use strict";
  var form = document.querySelector("form[data-top-up]");
  if (!form) return;
  var box = form.querySelector("input[name=amount]");
  var sent = false;
  Array.prototype.forEach.call(form.querySelectorAll("button[name=fill]"), function (button) {
    button.addEventListener("click", function (event) {
      if (!box) return;
      event.preventDefault();
      box.value = button.getAttribute("data-amount");
      box.focus();
    });
  });
  form.addEventListener("submit", function (event) {
    // a second click while the first request runs: the server would credit once anyway
    // (same request key), but the member needs no second wait
    if (sent) { event.preventDefault(); return; }
    sent = true;
    form.setAttribute("aria-busy", "true");
  });
  window.addEventListener("pageshow", function () { sent = false; form.removeAttribute("aria-busy"); });
})();

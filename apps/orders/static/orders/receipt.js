// The e-receipt's Print button (a static file: the CSP forbids inline scripts). Without
// JavaScript the button stays hidden and the browser's own print works as well.
(function () {
  "use strict";
  var button = document.querySelector("[data-print]");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
})();

/* Product page: switch the option without reloading the page (progressive enhancement).
 * Without JavaScript the picker is a plain GET form (?sku=CODE) and its button reloads the
 * page. With it, choosing a radio fetches that same URL, swaps the price/stock block and
 * the cart's SKU, and updates the address bar; any failure falls back to the plain form.
 * No inline script: loaded from our static files (Content-Security-Policy friendly). */
(function () {
  "use strict";
  var form = document.querySelector("form[data-sku-picker]");
  if (!form || !window.fetch || !window.DOMParser || !window.history) return;
  var button = form.querySelector(".sku-submit");
  if (button) button.hidden = true;
  var pending = null;

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("sku-state");
    var current = document.getElementById("sku-state");
    if (!fresh || !current) return false;
    // the live region stays in place (a new node would not be announced): swap its children
    current.replaceChildren.apply(current, Array.prototype.slice.call(fresh.childNodes).map(function (node) {
      return document.importNode(node, true);
    }));
    var sku = doc.getElementById("cart-sku");
    var cart = document.getElementById("cart-sku");
    if (sku && cart) cart.value = sku.value;
    return true;
  }

  form.addEventListener("change", function (event) {
    var radio = event.target;
    if (!radio || radio.name !== "sku") return;
    var url = new URL(window.location.href);
    url.searchParams.set("sku", radio.value);
    if (pending) pending.abort();
    pending = new AbortController();
    document.body.classList.add("is-loading");
    fetch(url.toString(), { signal: pending.signal, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        if (!swap(html)) throw new Error("no sku-state");
        window.history.replaceState(null, "", url.toString());
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") return;
        form.submit();
      })
      .finally(function () {
        document.body.classList.remove("is-loading");
      });
  });
})();

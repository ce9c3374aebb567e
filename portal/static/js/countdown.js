// A private sale's countdown: the time left until `data-countdown` (an ISO time), updated every
// second; at zero, the element says `data-done` and the page reloads to show the sale.
(function () {
  "use strict";

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function start(el) {
    var opens = Date.parse(el.getAttribute("data-countdown"));
    if (isNaN(opens)) {
      return;
    }
    function tick() {
      var left = Math.floor((opens - Date.now()) / 1000);
      if (left <= 0) {
        el.textContent = el.getAttribute("data-done") || "";
        window.setTimeout(function () { window.location.reload(); }, 1500);
        return;
      }
      var days = Math.floor(left / 86400);
      var rest = left % 86400;
      var clock = pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor(rest % 3600 / 60)) + ":" + pad(rest % 60);
      el.textContent = (days > 0 ? days + " · " : "") + clock;
      window.setTimeout(tick, 1000);
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var found = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < found.length; i++) {
      start(found[i]);
    }
  });
})();

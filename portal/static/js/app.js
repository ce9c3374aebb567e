// Progressive touches that CSP forbids inline: confirmation before destructive forms.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Forms marked data-once send once: their buttons are disabled right after the first submit
// (after the browser has read the clicked button's name and value), so a double click does not
// post twice. The server also refuses a replay; this spares the round trip.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (event.defaultPrevented || !form.hasAttribute || !form.hasAttribute("data-once")) {
    return;
  }
  if (form.getAttribute("data-sent")) {
    event.preventDefault();
    return;
  }
  var submitter = event.submitter;
  var method = ((submitter && submitter.getAttribute("formmethod")) || form.method || "get");
  if (method.toLowerCase() === "get") {
    // A GET (the pick list) leaves the page's form usable and carries no CSRF token in its URL.
    var token = form.querySelector('input[name="csrf_token"]');
    if (token) {
      token.disabled = true;
      window.setTimeout(function () { token.disabled = false; }, 0);
    }
    return;
  }
  form.setAttribute("data-sent", "1");
  window.setTimeout(function () {
    form.querySelectorAll('button[type="submit"], input[type="submit"]').forEach(function (b) {
      b.disabled = true;
    });
  }, 0);
});

// Coming back with the browser's back button restores the page as it was left: sendable again.
window.addEventListener("pageshow", function (event) {
  if (!event.persisted) {
    return;
  }
  document.querySelectorAll("form[data-sent]").forEach(function (form) {
    form.removeAttribute("data-sent");
    form.querySelectorAll('button[type="submit"], input[type="submit"]').forEach(function (b) {
      b.disabled = false;
    });
  });
});

// A copy button (data-copy="text"): puts its text on the clipboard and says data-copied a moment.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) { return; }
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-copied") || label;
    window.setTimeout(function () { button.textContent = label; }, 1500);
  });
});

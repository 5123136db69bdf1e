/* PenguinMails Domains — small progressive enhancements.
 * No framework, no build step. Loaded with `defer`.
 * Everything uses event delegation on `document`, so it also works for
 * content swapped in by htmx. Nothing here touches the network at load.
 */
(function () {
  "use strict";

  var COPIED_LABEL = "Copied";
  var COPIED_MS = 2000;

  /* ---------------------------------------------------------------- CSRF */

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    var detail = evt.detail || {};
    var verb = String(detail.verb || "get").toUpperCase();
    if (verb === "GET" || verb === "HEAD" || verb === "OPTIONS") return;
    var token = csrfToken();
    if (token && detail.headers) detail.headers["X-CSRFToken"] = token;
  });

  /* ---------------------------------------------------- Copy to clipboard */

  function isFormControl(el) {
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function textToCopy(trigger) {
    if (trigger.hasAttribute("data-copy")) {
      return trigger.getAttribute("data-copy");
    }
    var selector = trigger.getAttribute("data-copy-target");
    var target = null;
    try {
      target = selector ? document.querySelector(selector) : null;
    } catch (e) {
      target = null; // invalid selector
    }
    if (!target) return null;
    return isFormControl(target) ? target.value : target.textContent.trim();
  }

  function fallbackCopy(text) {
    var active = document.activeElement;
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.setAttribute("aria-hidden", "true");
    ta.style.position = "fixed";
    ta.style.top = "0";
    ta.style.left = "-9999px";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    ta.setSelectionRange(0, text.length);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(ta);
    if (active && typeof active.focus === "function") active.focus();
    return ok;
  }

  function copyText(text) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function" && window.isSecureContext !== false) {
      return navigator.clipboard.writeText(text).catch(function () {
        if (!fallbackCopy(text)) throw new Error("copy failed");
      });
    }
    return fallbackCopy(text) ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  var copyTimers = new WeakMap();

  function showCopied(btn) {
    var isInput = btn.tagName === "INPUT";
    var state = copyTimers.get(btn);
    if (state) {
      clearTimeout(state.timer); // keep the original label from the first click
    } else {
      state = { html: isInput ? btn.value : btn.innerHTML };
    }
    if (isInput) btn.value = COPIED_LABEL;
    else btn.textContent = COPIED_LABEL;
    btn.classList.add("is-copied");
    state.timer = setTimeout(function () {
      if (isInput) btn.value = state.html;
      else btn.innerHTML = state.html;
      btn.classList.remove("is-copied");
      copyTimers.delete(btn);
    }, COPIED_MS);
    copyTimers.set(btn, state);
  }

  document.addEventListener("click", function (evt) {
    if (!(evt.target instanceof Element)) return;
    var trigger = evt.target.closest("[data-copy], [data-copy-target]");
    if (!trigger) return;
    evt.preventDefault(); // don't follow links / submit forms
    var text = textToCopy(trigger);
    if (text === null) return;
    copyText(text).then(
      function () { showCopied(trigger); },
      function () {
        if (window.console) console.warn("Copy to clipboard failed");
      }
    );
  });

  /* ---------------------------------------------- Confirm on form submit */
  /* Plain (non-htmx) forms: <form data-confirm="Really delete?">.
   * A submit button may also carry its own data-confirm.
   * htmx forms should use hx-confirm; forms with hx-confirm are skipped. */

  document.addEventListener(
    "submit",
    function (evt) {
      var form = evt.target;
      if (!(form instanceof HTMLFormElement)) return;
      if (form.hasAttribute("hx-confirm") || form.hasAttribute("data-hx-confirm")) return;
      var submitter = evt.submitter;
      var message =
        (submitter && submitter.getAttribute && submitter.getAttribute("data-confirm")) ||
        form.getAttribute("data-confirm");
      if (!message) return;
      if (!window.confirm(message)) {
        evt.preventDefault();
        evt.stopImmediatePropagation();
      }
    },
    true // capture: runs before any handler bound on the form itself
  );

  /* ----------------------------------------------------- Flash messages */

  document.addEventListener("click", function (evt) {
    if (!(evt.target instanceof Element)) return;
    var close = evt.target.closest(".flash-close");
    if (!close) return;
    var flash = close.closest(".flash");
    if (!flash) return;
    evt.preventDefault();
    flash.remove();
  });
})();

/* -------------------------------------------------------- Domain tree */
/* Bulk selection in the tree (templates/subdomains): a counter that follows the ticked
 * domains, "select all shown subdomains" per opened node, and "clear selection". The
 * checkboxes belong to the bulk form by their form="tree-bulk" attribute, so all of this
 * is comfort: without JS, ticking and applying still work. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function bulkForm() {
    return document.getElementById("tree-bulk");
  }

  function treeBoxes() {
    return document.querySelectorAll('input.tree-select[form="tree-bulk"]');
  }

  function updateCount() {
    var output = document.getElementById("tree-selected-count");
    var form = bulkForm();
    if (!output || !form) return;
    var count = form.querySelectorAll("input[data-kept-selection]").length;
    treeBoxes().forEach(function (box) {
      if (box.checked) count += 1;
    });
    output.textContent = String(count);
  }

  document.addEventListener("change", function (evt) {
    if (evt.target instanceof Element && evt.target.matches("input.tree-select")) updateCount();
  });

  document.addEventListener("htmx:afterSettle", updateCount);
  document.addEventListener("DOMContentLoaded", updateCount);

  document.addEventListener("click", function (evt) {
    if (!(evt.target instanceof Element)) return;
    var selectChildren = evt.target.closest("[data-select-children]");
    if (selectChildren) {
      var container = selectChildren.parentElement;
      var boxes = container ? container.querySelectorAll(":scope > ul > li > input.tree-select") : [];
      var allTicked = Array.prototype.every.call(boxes, function (box) { return box.checked; });
      Array.prototype.forEach.call(boxes, function (box) { box.checked = !allTicked; });
      updateCount();
      return;
    }
    if (evt.target.closest("[data-clear-selection]")) {
      treeBoxes().forEach(function (box) { box.checked = false; });
      var form = bulkForm();
      if (form) {
        form.querySelectorAll("input[data-kept-selection]").forEach(function (kept) {
          kept.remove();
        });
      }
      updateCount();
    }
  });
})();

// reviewer: keyboard movement, deep links, the delete modal and copy buttons.
// Everything here is progressive: each page works without it.
(function () {
  "use strict";

  function events() { return Array.from(document.querySelectorAll(".timeline > .ev")); }
  function current() { return document.querySelector(".ev.current"); }

  function focusEvent(el, updateHash) {
    if (!el) return;
    var prev = current();
    if (prev) prev.classList.remove("current");
    el.classList.add("current");
    el.scrollIntoView({ block: "start" });
    el.focus({ preventScroll: true });
    if (updateHash) history.replaceState(null, "", "#" + el.id);
  }

  function move(step) {
    var list = events();
    if (!list.length) return;
    var index = list.indexOf(current());
    if (index === -1) {
      // Start from the first event below the top of the viewport.
      index = list.findIndex(function (el) { return el.getBoundingClientRect().top >= 0; });
      index = index === -1 ? 0 : index - (step > 0 ? 1 : 0);
    }
    var next = list[Math.max(0, Math.min(list.length - 1, index + step))];
    focusEvent(next, true);
    if (step > 0 && index + step >= list.length - 3) {
      var more = document.querySelector(".timeline .load-more[hx-get]");
      if (more && window.htmx) htmx.trigger(more, "revealed");
    }
  }

  function jumpFailure(direction) {
    var list = events();
    var index = list.indexOf(current());
    var candidates = direction === "next" ? list.slice(index + 1) : list.slice(0, Math.max(0, index)).reverse();
    var hit = candidates.find(function (el) { return el.classList.contains("failed"); });
    if (hit) { focusEvent(hit, true); return; }
    var link = document.querySelector('[data-jump="' + direction + '"]');
    if (link) {
      var from = current() ? current().dataset.eventId : "";
      var url = new URL(link.href, location.href);
      if (from) url.searchParams.set("from", from);
      location.href = url.toString();
    }
  }

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.metaKey || e.ctrlKey || e.altKey) return;
    if (e.key === "j") { move(1); e.preventDefault(); }
    else if (e.key === "k") { move(-1); e.preventDefault(); }
    else if (e.key === "n") { jumpFailure("next"); e.preventDefault(); }
    else if (e.key === "p") { jumpFailure("prev"); e.preventDefault(); }
    else if (e.key === "/") {
      var search = document.querySelector("input[type=search]");
      if (search) { search.focus(); e.preventDefault(); }
    }
  });

  document.addEventListener("click", function (e) {
    var jump = e.target.closest("[data-jump]");
    if (jump) { e.preventDefault(); jumpFailure(jump.dataset.jump); return; }
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var input = document.getElementById(copy.dataset.copy);
      if (input) {
        input.select();
        (navigator.clipboard ? navigator.clipboard.writeText(input.value) : Promise.reject())
          .catch(function () { document.execCommand("copy"); })
          .finally(function () { copy.textContent = "Copied"; });
      }
      return;
    }
    var close = e.target.closest("[data-close-modal]");
    if (close) { e.preventDefault(); document.getElementById("modal").close(); }
    var ev = e.target.closest(".timeline > .ev");
    if (ev && !e.target.closest("a, button, summary, input")) {
      var prev = current(); if (prev) prev.classList.remove("current"); ev.classList.add("current");
    }
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.requestSubmit();
  });

  // htmx content aimed at the modal opens it.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "modal-body") {
      var dialog = document.getElementById("modal");
      if (!dialog.open) dialog.showModal();
      var field = dialog.querySelector("input:not([type=hidden])");
      if (field) field.focus();
    }
  });

  // A deep link (#event-<id>) to an event not loaded yet reopens the page at that event.
  function followHash() {
    var hash = location.hash;
    if (!hash.startsWith("#event-")) return;
    var el = document.getElementById(hash.slice(1));
    if (el) { focusEvent(el, false); return; }
    var root = document.querySelector("[data-timeline-base]");
    if (!root) return;
    var id = hash.slice("#event-".length);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/.test(id)) return;
    location.replace(root.dataset.timelineBase + "?at=" + encodeURIComponent(id) + hash);
  }
  window.addEventListener("hashchange", followHash);
  document.addEventListener("DOMContentLoaded", followHash);
})();

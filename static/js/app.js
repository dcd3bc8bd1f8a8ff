// reviewer: keyboard movement, turns, the session map, deep links, the delete modal and
// copy buttons. Everything here is progressive: each page works without it.
(function () {
  "use strict";

  function visible(el) { return el.offsetParent !== null; }
  function events() {
    return Array.from(document.querySelectorAll(".ev[data-event-id]")).filter(visible);
  }
  function turnsList() { return Array.from(document.querySelectorAll(".turn[data-turn]")); }
  function current() { return document.querySelector(".ev.current"); }

  // Sticky bars must never hide what the keys or a link jump to: the offset a target scrolls
  // below is the bottom of the lowest sticky element, kept in a CSS variable.
  function stickyOffset() {
    // The bars pinned under the top bar sit exactly at its height, whatever it is on this page.
    var topbar = document.querySelector(".topbar");
    var pinned = topbar && ["sticky", "fixed"].indexOf(getComputedStyle(topbar).position) !== -1;
    document.documentElement.style.setProperty("--topbar-height", (pinned ? topbar.offsetHeight : 0) + "px");
    var bottom = 0;
    document.querySelectorAll(".topbar, .tl-filters").forEach(function (el) {
      var style = getComputedStyle(el);
      if (style.position === "sticky" || style.position === "fixed") {
        bottom = Math.max(bottom, el.getBoundingClientRect().bottom);
      }
    });
    document.documentElement.style.setProperty("--sticky-offset", Math.ceil(bottom + 8) + "px");
  }

  function setCurrent(el) {
    var prev = current();
    if (prev) prev.classList.remove("current");
    if (el) el.classList.add("current");
    document.querySelectorAll(".turn.current").forEach(function (t) { t.classList.remove("current"); });
    var turn = el && el.closest(".turn");
    if (turn) turn.classList.add("current");
  }

  function focusEvent(el, updateHash) {
    if (!el) return;
    stickyOffset();
    setCurrent(el);
    el.scrollIntoView({ block: "start" });
    el.focus({ preventScroll: true });
    if (updateHash) history.replaceState(null, "", "#" + el.id);
    markMap();
  }

  function move(step) {
    var list = events();
    if (!list.length) return;
    var index = list.indexOf(current());
    if (index === -1) {
      index = list.findIndex(function (el) { return el.getBoundingClientRect().top >= 0; });
      index = index === -1 ? 0 : index - (step > 0 ? 1 : 0);
    }
    var next = list[Math.max(0, Math.min(list.length - 1, index + step))];
    focusEvent(next, true);
    if (step > 0 && index + step >= list.length - 3) {
      var more = document.querySelector(".load-more[hx-get]");
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
      var from = current() ? (current().dataset.eventKey || current().dataset.eventId) : "";
      var url = new URL(link.href, location.href);
      if (from) url.searchParams.set("from", from);
      location.href = url.toString();
    }
  }

  // --- turns ----------------------------------------------------------------------------------

  function currentTurn() {
    var turn = document.querySelector(".turn.current");
    if (turn) return turn;
    var focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".turn");
    if (focused) return focused;
    return turnsList().find(function (t) { return t.getBoundingClientRect().bottom > 80; }) || null;
  }

  function setOpen(turn, open) {
    var body = turn.querySelector(".turn-body");
    var toggle = turn.querySelector("[data-turn-toggle]");
    if (!body || !toggle) return;
    body.hidden = !open;
    turn.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function toggleTurn(turn) {
    var toggle = turn.querySelector("[data-turn-toggle]");
    if (!toggle) return;
    if (turn.dataset.loaded || turn.classList.contains("open") || turn.querySelector(".turn-body").children.length) {
      setOpen(turn, !turn.classList.contains("open"));
      turn.dataset.loaded = "1";
    } else {
      toggle.click(); // htmx loads the body once; the swap handler opens it
    }
  }

  function moveTurn(step) {
    var list = turnsList();
    if (!list.length) return;
    var index = list.indexOf(currentTurn());
    var next = list[Math.max(0, Math.min(list.length - 1, index + step))];
    if (!next) return;
    stickyOffset();
    setCurrent(null);
    next.classList.add("current");
    next.scrollIntoView({ block: "start" });
    var toggle = next.querySelector("[data-turn-toggle]");
    if (toggle) toggle.focus({ preventScroll: true });
    history.replaceState(null, "", "#turn-" + next.dataset.turn);
    markMap();
  }

  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.classList && target.classList.contains("turn-body")) {
      var turn = target.closest(".turn");
      turn.dataset.loaded = "1";
      setOpen(turn, true);
    }
    if (target && target.id === "modal-body") {
      var dialog = document.getElementById("modal");
      if (!dialog.open) dialog.showModal();
      var field = dialog.querySelector("input:not([type=hidden])");
      if (field) field.focus();
    }
    revealExpandAll();
    stickyOffset();
  });

  function revealExpandAll() {
    document.querySelectorAll("[data-expand-all]").forEach(function (b) { b.hidden = !turnsList().length; });
  }

  // --- the session map ---------------------------------------------------------------------------

  var mapTimer = 0;
  function markMap() {
    var strip = document.querySelector(".map-strip");
    if (!strip) return;
    var start = Date.parse(strip.dataset.mapStart), end = Date.parse(strip.dataset.mapEnd);
    var line = strip.querySelector(".map-now");
    if (!line || !(end > start)) return;
    var anchor = current() || events().find(function (el) { return el.getBoundingClientRect().bottom > 100; });
    var time = anchor && anchor.querySelector("time[datetime]");
    if (!time) { var turn = currentTurn(); time = turn && turn.querySelector("time[datetime]"); }
    if (!time) return;
    var x = Math.max(0, Math.min(1000, (Date.parse(time.getAttribute("datetime")) - start) / (end - start) * 1000));
    line.setAttribute("x1", x.toFixed(1));
    line.setAttribute("x2", x.toFixed(1));
    line.removeAttribute("hidden");
  }
  window.addEventListener("scroll", function () {
    if (mapTimer) return;
    mapTimer = setTimeout(function () { mapTimer = 0; markMap(); }, 150);
  }, { passive: true });

  // --- keys -----------------------------------------------------------------------------------

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.metaKey || e.ctrlKey || e.altKey) return;
    var onToggle = e.target.closest && e.target.closest("[data-turn-toggle]");
    if (e.key === "j") { move(1); e.preventDefault(); }
    else if (e.key === "k") { move(-1); e.preventDefault(); }
    else if (e.key === "n") { jumpFailure("next"); e.preventDefault(); }
    else if (e.key === "p") { jumpFailure("prev"); e.preventDefault(); }
    else if (e.key === "]") { moveTurn(1); e.preventDefault(); }
    else if (e.key === "[") { moveTurn(-1); e.preventDefault(); }
    else if (e.key === "o" || (e.key === "Enter" && onToggle)) {
      var turn = onToggle ? onToggle.closest(".turn") : currentTurn();
      if (turn) { toggleTurn(turn); e.preventDefault(); }
    }
    else if (e.key === "/") {
      var search = document.querySelector("input[type=search]");
      if (search) { search.focus(); e.preventDefault(); }
    }
  });

  document.addEventListener("click", function (e) {
    var toggle = e.target.closest("[data-turn-toggle]");
    if (toggle) {
      var turn = toggle.closest(".turn");
      if (turn.dataset.loaded || turn.classList.contains("open")) {
        e.preventDefault();
        setOpen(turn, !turn.classList.contains("open"));
        turn.dataset.loaded = "1";
      }
      return; // otherwise htmx loads the body (and prevents the navigation)
    }
    var expandAll = e.target.closest("[data-expand-all]");
    if (expandAll) {
      turnsList().forEach(function (t) { if (!t.classList.contains("open")) toggleTurn(t); });
      return;
    }
    var mapLink = e.target.closest("[data-map-at]");
    if (mapLink) {
      var hit = document.getElementById("event-" + mapLink.dataset.mapAt);
      if (hit && visible(hit)) { e.preventDefault(); focusEvent(hit, true); }
      return; // otherwise the page opens at it (?at=…)
    }
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
    var ev = e.target.closest(".ev[data-event-id]");
    if (ev && !e.target.closest("a, button, summary, input")) { setCurrent(ev); markMap(); }
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.requestSubmit();
  });

  // A deep link (#event-<id>) to an event not on the page reopens the page at that event.
  function followHash() {
    stickyOffset();
    var hash = location.hash;
    if (!hash.startsWith("#event-") && !hash.startsWith("#turn-")) return;
    var el = document.getElementById(decodeURIComponent(hash.slice(1)));
    if (el && visible(el)) {
      if (el.classList.contains("turn")) { el.scrollIntoView({ block: "start" }); el.classList.add("current"); }
      else focusEvent(el, false);
      return;
    }
    var root = document.querySelector("[data-timeline-base]");
    if (!root || !hash.startsWith("#event-")) return;
    var id = decodeURIComponent(hash.slice("#event-".length));
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}(~[0-9]{1,5})?$/.test(id)) return;
    var url = new URL(location.href);
    if (url.searchParams.get("at") === id) return; // already asked for: it is not stored
    url.searchParams.set("at", id);
    location.replace(url.pathname + url.search + hash);
  }
  // A pinned sidebar taller than the screen fades at its foot while more of it is below.
  function sidebarCue() {
    document.querySelectorAll(".sidebar").forEach(function (bar) {
      bar.classList.toggle("more-below", bar.scrollTop + bar.clientHeight < bar.scrollHeight - 2);
    });
  }
  document.addEventListener("scroll", function (e) {
    if (e.target.classList && e.target.classList.contains("sidebar")) sidebarCue();
  }, true);
  document.addEventListener("htmx:afterSettle", sidebarCue);

  window.addEventListener("hashchange", followHash);
  window.addEventListener("resize", function () { stickyOffset(); sidebarCue(); });
  document.addEventListener("DOMContentLoaded", function () { revealExpandAll(); followHash(); markMap(); sidebarCue(); });
})();

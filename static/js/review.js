// Hiring review: remember how far the reader got (the furthest event seen), and reopen there.
// The page works without this: "Reviewed up to here" posts the marker with a plain form.
(function () {
  "use strict";
  const section = document.querySelector("[data-timeline-base]");
  if (!section) return;
  const base = section.getAttribute("data-timeline-base");
  const token = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  if (!token) return;
  let furthest = null;
  let sent = null;
  let timer = null;

  function order(el) {
    return Array.prototype.indexOf.call(document.querySelectorAll("[data-event-id]"), el);
  }
  function send() {
    timer = null;
    if (!furthest || furthest === sent) return;
    const key = furthest.getAttribute("data-event-key") || furthest.getAttribute("data-event-id");
    sent = furthest;
    const body = new URLSearchParams({ event_id: key, csrfmiddlewaretoken: token });
    fetch(base + "position/", {
      method: "POST",
      body: body,
      headers: { "X-Requested-With": "fetch", "X-CSRFToken": token },
      credentials: "same-origin",
    }).catch(function () {});
  }
  const seen = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      if (!furthest || order(entry.target) > order(furthest)) furthest = entry.target;
    });
    if (furthest && furthest !== sent && !timer) timer = setTimeout(send, 2000);
  });
  function watch(root) {
    root.querySelectorAll("[data-event-id]").forEach(function (el) { seen.observe(el); });
  }
  watch(document);
  document.body.addEventListener("htmx:afterSwap", function (e) { watch(e.target); });
  // Reopen where the reader stopped, unless the URL points somewhere already.
  const here = document.getElementById("you-were-here");
  if (here && !location.hash) here.scrollIntoView({ block: "center" });
})();

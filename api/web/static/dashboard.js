/* Vigil dashboard: live alert updates over the API's SSE stream, no build step.
 *
 * The server renders everything; this script only
 *  - listens to /ui/stream (EventSource) and asks htmx to re-render the parts of the page that
 *    show alerts (elements with hx-trigger "vigil:alerts from:body") when an alert changes;
 *  - never wipes a note being typed: a refresh waits until the clinician is done;
 *  - says plainly when the page may be out of date (stream down, refresh failed), because a
 *    dashboard that silently stops updating presents stale data as current;
 *  - announces new alerts to screen readers and marks new rows.
 */
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.getAttribute("data-live") !== "on" || !window.htmx) { return; }
  var statusEl = document.getElementById("live-status");
  var banner = document.getElementById("conn-banner");
  var announcer = document.getElementById("announcer");
  var source = null;
  var refreshTimer = null;
  var pending = false;
  var failures = 0;
  var known = currentIds();

  function setStatus(state, text) {
    if (!statusEl) { return; }
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = "Live updates: " + text;
  }

  function showBanner(text) {
    if (!banner) { return; }
    banner.textContent = text;
    banner.hidden = false;
  }

  function hideBanner() { if (banner) { banner.hidden = true; } }

  function clock() { return new Date().toLocaleTimeString("en-GB"); }

  function currentIds() {
    var ids = {};
    document.querySelectorAll("[data-alert-id]").forEach(function (el) {
      ids[el.getAttribute("data-version")] = true;
    });
    return ids;
  }

  function editing() {
    var active = document.activeElement;
    if (active && active.closest && active.closest(".ac-actions")) { return true; }
    var notes = document.querySelectorAll("details.ac-actions[open] input[name=note]");
    for (var i = 0; i < notes.length; i++) { if (notes[i].value.trim() !== "") { return true; } }
    return false;
  }

  function refreshNow() {
    if (editing()) {
      pending = true;
      setStatus("waiting", "changes waiting until you finish");
      return;
    }
    pending = false;
    window.htmx.trigger(body, "vigil:alerts");
  }

  function requestRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshNow, 200);  /* one refresh for a burst of changes */
  }

  function announce(alert) {
    if (!announcer || !alert || alert.last_action !== "create") { return; }
    announcer.textContent = "New " + alert.severity + " alert: " + alert.patient_name + ". " +
      alert.message;
  }

  function connect() {
    setStatus("connecting", "connecting…");
    source = new EventSource("/ui/stream");
    source.addEventListener("ready", function () {
      if (failures > 0) { requestRefresh(); }  /* catch up after a reconnect */
      failures = 0;
      setStatus("on", "on");
      hideBanner();
    });
    source.addEventListener("alert", function (event) {
      var alert = null;
      try { alert = JSON.parse(event.data); } catch (e) { alert = null; }
      announce(alert);
      requestRefresh();
    });
    source.addEventListener("resync", requestRefresh);
    source.addEventListener("token_expired", function () {
      /* The stream ends with the session token; reconnecting renews it if the session
         is still alive, and otherwise the refresh below leads to the sign-in page. */
      source.close();
      setTimeout(connect, 500);
    });
    source.onerror = function () {
      failures += 1;
      if (source.readyState === EventSource.CLOSED) {
        setStatus("off", "stopped");
        showBanner("Live updates stopped at " + clock() + ". The page may be out of date: " +
          "reload it (you may need to sign in again).");
        requestRefresh();
        setTimeout(connect, Math.min(30000, 2000 * failures));
      } else {
        setStatus("reconnecting", "reconnecting…");
      }
    };
  }

  /* A periodic or live refresh must not replace a form being filled in. */
  body.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-refresh") && editing()) {
      event.preventDefault();
      pending = true;
      setStatus("waiting", "changes waiting until you finish");
    }
  });

  body.addEventListener("focusout", function () {
    if (pending) { setTimeout(function () { if (pending && !editing()) { refreshNow(); } }, 300); }
  });

  body.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("[data-alert-id]").forEach(function (el) {
      if (!known[el.getAttribute("data-version")]) { el.classList.add("is-new"); }
    });
    known = currentIds();
    hideBanner();
    if (source && source.readyState === EventSource.OPEN) { setStatus("on", "on"); }
  });

  function failed() {
    showBanner("Could not update at " + clock() + ". The data shown may be out of date; " +
      "it will retry.");
  }
  body.addEventListener("htmx:sendError", failed);
  body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Redirect")) { return; }
    failed();
  });

  connect();
}());

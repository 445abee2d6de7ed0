// q2o portal: the little a browser adds to server-rendered pages.
// Every page works without this file; with it, progress and logs update
// live over the API's Server-Sent Events. EventSource reconnects by itself
// and sends Last-Event-ID, so a dropped connection misses no change.
(function () {
  "use strict";

  // The tenant's colour (profile, client dashboard) goes in through the
  // CSSOM: the Content-Security-Policy allows no inline style.
  function applyBrand(el, color) {
    if (/^#[0-9a-fA-F]{6}$/.test(color || "")) {
      el.style.setProperty("--brand", color);
    }
  }
  document.querySelectorAll("[data-brand]").forEach(function (el) {
    applyBrand(el, el.getAttribute("data-brand"));
    if (el.classList.contains("brand-bar")) {
      applyBrand(document.body, el.getAttribute("data-brand"));
    }
  });

  // Copy buttons: data-copy names the input whose value is copied.
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var input = document.querySelector(btn.getAttribute("data-copy"));
      if (!input) return;
      var label = btn.textContent;
      function done() {
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = label; }, 1500);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
      } else {
        input.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* selected for Ctrl-C */ }
      }
    });
  });

  // Forms that destroy something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  // Profile: a live preview of the client dashboard's header.
  var color = document.querySelector("[data-preview-color]");
  var bar = document.querySelector("[data-preview-bar]");
  if (color && bar) {
    var value = document.querySelector("[data-color-value]");
    var update = function () {
      applyBrand(bar, color.value);
      if (value) value.textContent = color.value.toUpperCase();
    };
    color.addEventListener("input", update);
    update();
    var name = document.getElementById("name");
    var nameOut = document.querySelector("[data-preview-name]");
    if (name && nameOut) name.addEventListener("input", function () { nameOut.textContent = name.value; });
    var logo = document.querySelector("[data-preview-logo]");
    var img = document.querySelector("[data-preview-img]");
    if (logo && img) {
      logo.addEventListener("input", function () {
        var ok = /^https:\/\/\S+$/.test(logo.value);
        img.hidden = !ok;
        if (ok) img.src = logo.value;
      });
    }
  }

  var LABELS = { pending: "Queued", running: "Running", completed: "Completed", failed: "Failed",
    paused: "Paused", cancelled: "Cancelled", "": "Not run yet" };
  var KINDS = ["pending", "running", "progress", "completed", "failed", "paused", "cancelled", "zipped"];

  function setState(text) {
    document.querySelectorAll("[data-live-state]").forEach(function (el) {
      el.textContent = text;
      el.classList.toggle("is-live", text === "Live");
    });
  }

  // stamp writes a time as the server does: "1 Dec 2026, 09:25 UTC".
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function stamp(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear() + ", " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }

  // applyEvent updates every element of the event's project.
  function applyEvent(ev) {
    document.querySelectorAll('[data-project="' + ev.project_id + '"]').forEach(function (root) {
      root.querySelectorAll("[data-progress]").forEach(function (bar) {
        bar.value = ev.progress;
        bar.textContent = ev.progress + "%";
      });
      root.querySelectorAll("[data-progress-pct]").forEach(function (el) { el.textContent = ev.progress + "%"; });
      if (ev.kind === "progress" || ev.kind === "running" || ev.kind === "pending") {
        root.querySelectorAll("[data-progress-message]").forEach(function (el) { el.textContent = ev.message || "\u00a0"; });
      }
      if (ev.kind === "running") {
        root.querySelectorAll("[data-started]").forEach(function (el) { el.textContent = stamp(ev.at); });
        root.querySelectorAll("[data-finished]").forEach(function (el) { el.textContent = "\u2014"; });
      }
      if (ev.kind === "completed" || ev.kind === "failed" || ev.kind === "paused" || ev.kind === "cancelled") {
        root.querySelectorAll("[data-finished]").forEach(function (el) { el.textContent = stamp(ev.at); });
      }
      if (ev.kind !== "progress" && ev.kind !== "zipped" && ev.status) {
        root.querySelectorAll("[data-status-badge]").forEach(function (b) {
          b.textContent = LABELS[ev.status] || ev.status;
          b.className = "badge badge-" + ev.status;
        });
      }
    });
  }

  // Client dashboard: the download button follows the run.
  function clientDownload(ev) {
    var dl = document.querySelector("[data-download]");
    var wait = document.querySelector("[data-download-wait]");
    if (!dl || !wait) return;
    if (ev.kind === "zipped") {
      dl.hidden = false;
      wait.hidden = true;
    } else if (ev.kind === "completed") {
      wait.textContent = "Preparing your download\u2026";
      wait.hidden = false;
    } else if ((ev.kind === "pending" || ev.kind === "running") && dl.hidden) {
      // A re-run keeps the last completed run's download; until a first
      // run completes there is none.
      wait.textContent = "The download appears here when the project has completed.";
      wait.hidden = false;
    }
  }

  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) {
    var isClient = live.hasAttribute("data-client-live");
    var reloadOn = (live.getAttribute("data-reload-on") || "").split(" ").filter(Boolean);
    var source = new EventSource(live.getAttribute("data-live"));
    source.onopen = function () { setState("Live"); };
    source.onerror = function () {
      setState(source.readyState === EventSource.CLOSED ? "Offline — reload the page" : "Reconnecting…");
    };
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (msg) {
        var ev;
        try { ev = JSON.parse(msg.data); } catch (e) { return; }
        applyEvent(ev);
        if (isClient) clientDownload(ev);
        if (reloadOn.indexOf(ev.kind) >= 0 && document.querySelector('[data-project="' + ev.project_id + '"]')) {
          // The project page's buttons and runs follow the new state.
          source.close();
          setTimeout(function () { window.location.reload(); }, 400);
        }
      });
    });
  }

  // Run page: the log, live, kept at the bottom unless the reader scrolls up.
  var log = document.querySelector("[data-log]");
  if (log && window.EventSource) {
    var state = document.querySelector("[data-log-state]");
    var stick = true;
    log.addEventListener("scroll", function () {
      stick = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    });
    var pending = [];
    var flush = function () {
      if (!pending.length) return;
      log.appendChild(document.createTextNode(pending.join("")));
      pending = [];
      if (stick) log.scrollTop = log.scrollHeight;
    };
    var logSource = new EventSource(log.getAttribute("data-log"));
    logSource.onopen = function () { if (state) state.textContent = "Following live"; };
    logSource.onmessage = function (msg) {
      pending.push(msg.data + "\n");
      window.requestAnimationFrame(flush);
    };
    // Bytes the server no longer has (trimmed from the live stream, not
    // stored yet) are skipped: say so where they were.
    logSource.addEventListener("gap", function (msg) {
      var g = JSON.parse(msg.data), n = g.to - g.from;
      flush();
      var mark = document.createElement("span");
      mark.className = "log-gap";
      mark.setAttribute("data-log-gap", "");
      mark.textContent = "\u2026 " + n.toLocaleString("en") + (n === 1 ? " byte of the log is" : " bytes of the log are") +
        " no longer available \u2026\n";
      log.appendChild(mark);
      if (stick) log.scrollTop = log.scrollHeight;
    });
    logSource.addEventListener("end", function (msg) {
      flush();
      logSource.close();
      if (state) state.textContent = "Finished";
      var end = document.querySelector("[data-log-end]");
      var fin = document.querySelector("[data-log-final]");
      if (fin) fin.textContent = LABELS[msg.data] || msg.data;
      if (end) end.hidden = false;
      document.querySelectorAll("[data-run-status] [data-status-badge]").forEach(function (b) {
        b.textContent = LABELS[msg.data] || msg.data;
        b.className = "badge badge-" + msg.data;
      });
      if (!log.textContent) log.textContent = "(main.py wrote nothing)";
    });
    logSource.onerror = function () {
      if (state && logSource.readyState !== EventSource.CLOSED) state.textContent = "Reconnecting…";
    };
  }
})();

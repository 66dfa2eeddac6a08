// socialdesk desk: keyboard shortcuts, live updates (SSE), SLA countdowns, the reply
// counter and canned responses. Plain JS over htmx; no framework, nothing from a CDN.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---- live updates -------------------------------------------------------------------
  let threadTimer = null;
  function currentId() {
    const c = $("#conversation");
    return c ? c.dataset.id : null;
  }
  // A live event fetches the list at once; events arriving meanwhile cause exactly one more
  // fetch after it (never a pile of requests, never a fixed delay before showing a message).
  let listInFlight = false;
  let listAgain = false;
  let viewsTimer = null;
  function refreshList() {
    const list = $("#conv-list");
    if (!list) return;
    if (listInFlight) { listAgain = true; return; }
    listInFlight = true;
    const url = list.dataset.listUrl || list.getAttribute("hx-get");
    const checked = new Set($$("input[name=ids]:checked", list).map((i) => i.value));
    const before = new Set($$("li.conv", list).map((li) => li.dataset.id));
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        list.innerHTML = html;
        htmx.process(list);
        const cur = currentId();
        $$("li.conv", list).forEach((li) => {
          if (checked.has(li.dataset.id)) $("input[name=ids]", li).checked = true;
          if (li.dataset.id === cur) li.classList.add("current");
          if (before.size && !before.has(li.dataset.id)) li.classList.add("fresh");
        });
        updateBulkbar();
        tickSla();
      })
      .catch(() => {})
      .finally(() => {
        listInFlight = false;
        if (listAgain) { listAgain = false; refreshList(); }
      });
    // The counts matter less than the list: refresh them once things calm down.
    clearTimeout(viewsTimer);
    viewsTimer = setTimeout(() => {
      const views = $("#views");
      if (views) htmx.ajax("GET", "/ui/views?view=" + encodeURIComponent(viewKey()), { target: views, swap: "innerHTML" });
    }, 700);
  }
  function viewKey() {
    const v = $("#filters input[name=view]");
    return v ? v.value : "all_open";
  }
  function refreshThread(id) {
    if (!id || id !== currentId()) return;
    clearTimeout(threadTimer);
    threadTimer = setTimeout(() => {
      // Never replace the pane while the agent is typing: refresh the thread only. The short
      // wait lets the writer commit (actions publish before their commit).
      htmx.ajax("GET", "/ui/conversations/" + id + "/thread", { target: "#thread", swap: "innerHTML" }).then(() => {
        const t = $("#thread");
        if (t) t.scrollTop = t.scrollHeight;
      });
    }, 100);
  }
  function connect() {
    if (!window.EventSource || !document.body.dataset.live) return;
    const source = new EventSource("/ui/events");
    const onEvent = (ev) => {
      let data = {};
      try { data = JSON.parse(ev.data).data || JSON.parse(ev.data); } catch (e) { /* keep {} */ }
      // The worker announces messages after its commit; other changes are announced at the
      // change, just before the writer commits, so those wait a moment.
      if (ev.type === "message.created") refreshList(); else setTimeout(refreshList, 120);
      if (data.conversation_id != null) refreshThread(String(data.conversation_id));
      if (window.deskOnLive) window.deskOnLive(ev.type, data);
    };
    ["message.created", "conversation.updated", "agent.updated"].forEach((k) => source.addEventListener(k, onEvent));
    // A listening alert: the managers' badge and alert list re-read themselves, and a toast says what it is.
    source.addEventListener("listening.alert", (ev) => {
      let data = {};
      try { data = JSON.parse(ev.data) || {}; } catch (e) { /* keep {} */ }
      document.body.dispatchEvent(new CustomEvent("desk-alert", { detail: data }));
      const toasts = $("[data-alert-toasts]");
      if (toasts && data.alert_id != null) {
        fetch("/ui/alerts/" + encodeURIComponent(data.alert_id) + "/toast", { credentials: "same-origin" })
          .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
          .then((html) => {
            const old = $('[data-alert="' + data.alert_id + '"]', toasts);
            if (old) old.remove();
            toasts.insertAdjacentHTML("afterbegin", html);
            const toast = toasts.firstElementChild;
            setTimeout(() => toast && toast.remove(), 20000);
          })
          .catch(() => {});
      }
    });
    source.onopen = () => document.body.classList.add("live-on");
    source.onerror = () => document.body.classList.remove("live-on");
  }

  // ---- SLA countdowns: amber under 30 minutes, red at breach ----------------------------
  function fmt(seconds) {
    const s = Math.abs(seconds);
    const text = s < 3600 ? Math.floor(s / 60) + "m" : s < 86400 ? Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m" : Math.floor(s / 86400) + "d";
    return seconds < 0 ? "breached " + text + " ago" : "due in " + text;
  }
  function tickSla() {
    const now = Date.now();
    $$("[data-due]").forEach((el) => {
      const left = (Date.parse(el.dataset.due) - now) / 1000;
      el.textContent = "SLA " + fmt(left);
      el.classList.toggle("red", left <= 0);
      el.classList.toggle("amber", left > 0 && left <= 1800);
    });
  }

  // ---- the reply composer ----------------------------------------------------------------
  // X counts most characters of CJK and emoji as 2 and every URL as 23 (twitter-text v3);
  // other platforms count characters. The server's checker has the final word.
  const X_LIGHT = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];
  const URL_RE = /https?:\/\/\S+/g;
  function xLength(text) {
    let n = 0;
    const stripped = text.replace(URL_RE, () => { n += 23; return ""; });
    for (const ch of stripped.normalize("NFC")) {
      const cp = ch.codePointAt(0);
      n += X_LIGHT.some(([a, b]) => cp >= a && cp <= b) ? 1 : 2;
    }
    return n;
  }
  function replyLimit() {
    const conv = $("#conversation");
    if (!conv) return null;
    const isPublic = !$("#thread") || $("#thread").classList.contains("public");
    const raw = isPublic ? conv.dataset.limitPublic : conv.dataset.limitPrivate;
    return raw ? parseInt(raw, 10) : null;
  }
  function updateCounter() {
    const box = $("#reply-text");
    const counter = $("#counter");
    if (!box || !counter) return;
    const conv = $("#conversation");
    const length = conv.dataset.weighted ? xLength(box.value) : Array.from(box.value).length;
    const limit = replyLimit();
    const over = limit !== null && length > limit;
    counter.textContent = limit !== null ? length + " / " + limit : String(length);
    counter.classList.toggle("over", over);
    counter.title = over ? "Over the platform's limit: shorten it or move to DM" : "";
    ["#send-btn", "#send-resolve-btn"].forEach((s) => { const b = $(s); if (b) b.disabled = over || !box.value.trim(); });
  }
  function cannedLookup() {
    const box = $("#reply-text");
    const target = $("#canned");
    if (!box || !target) return;
    const m = /(^|\s)\/([\w-]*)$/.exec(box.value);
    if (!m) { target.innerHTML = ""; return; }
    htmx.ajax("GET", "/ui/canned?conversation_id=" + currentId() + "&q=" + encodeURIComponent(m[2]), { target: "#canned", swap: "innerHTML" });
  }
  document.addEventListener("click", (ev) => {
    const opt = ev.target.closest(".canned-option");
    if (opt) {
      const box = $("#reply-text");
      box.value = box.value.replace(/(^|\s)\/[\w-]*$/, (all, space) => space) + opt.dataset.text;
      $("#canned").innerHTML = "";
      box.focus();
      box.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    if (ev.target.closest("[data-help]")) $("#help-dialog").showModal();
    if (ev.target.closest("[data-dismiss]")) { ev.target.closest(".toast").remove(); return; }
    const holding = ev.target.closest("[data-holding]");
    if (holding) {
      const box = $("#reply-text");
      box.value = holding.dataset.holding;
      box.focus();
      box.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    if (ev.target.id === "note-toggle") { const f = $("#note-form"); f.hidden = !f.hidden; if (!f.hidden) $("textarea", f).focus(); }
  });
  document.addEventListener("input", (ev) => {
    if (ev.target.id === "reply-text") { updateCounter(); cannedLookup(); }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.target.id === "reply-text" && ev.key === "Tab") {
      const first = $("#canned .canned-option");
      if (first) { ev.preventDefault(); first.click(); }
    }
  });

  // ---- selection, bulk, keyboard ----------------------------------------------------------
  function rows() { return $$("#conv-list li.conv"); }
  function cursorIndex() { return rows().findIndex((li) => li.classList.contains("cursor") || li.classList.contains("current")); }
  function open(li) {
    if (!li) return;
    rows().forEach((r) => r.classList.remove("current", "cursor"));
    li.classList.add("current");
    li.scrollIntoView({ block: "nearest" });
    htmx.ajax("GET", "/ui/conversations/" + li.dataset.id, { target: "#pane", swap: "innerHTML" });
  }
  function updateBulkbar() {
    const bar = $("#bulkbar");
    if (!bar) return;
    const n = $$("#conv-list input[name=ids]:checked").length;
    bar.hidden = n === 0;
    $("#bulk-count").textContent = n + " selected";
  }
  document.addEventListener("change", (ev) => { if (ev.target.name === "ids") updateBulkbar(); });
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.metaKey || ev.ctrlKey || ev.altKey) return;
    if (ev.key === "Escape") { if (typing(document.activeElement)) document.activeElement.blur(); return; }
    if (typing(ev.target)) return;
    const list = rows();
    const i = cursorIndex();
    switch (ev.key) {
      case "j": ev.preventDefault(); open(list[Math.min(i + 1, list.length - 1)] || list[0]); break;
      case "k": ev.preventDefault(); open(list[Math.max(i - 1, 0)]); break;
      case "r": if ($("#reply-text")) { ev.preventDefault(); $("#reply-text").focus(); } break;
      case "e": if ($("#resolve-btn")) { ev.preventDefault(); $("#resolve-btn").click(); } break;
      case "a": if ($("#assign-agent")) { ev.preventDefault(); $("#assign-agent").focus(); } break;
      case "x": if (list[i]) { ev.preventDefault(); const cb = $("input[name=ids]", list[i]); cb.checked = !cb.checked; updateBulkbar(); } break;
      case "/": ev.preventDefault(); $("#global-search") && $("#global-search").focus(); break;
      case "?": ev.preventDefault(); $("#help-dialog").showModal(); break;
      default: return;
    }
  });
  // Keep the list's highlight and the URL in step with the open conversation.
  document.addEventListener("htmx:afterSwap", (ev) => {
    if (ev.detail.target.id === "pane") {
      const id = currentId();
      rows().forEach((r) => r.classList.toggle("current", r.dataset.id === id));
      const t = $("#thread");
      if (t) t.scrollTop = t.scrollHeight;
      updateCounter();
      if (id && history.replaceState) {
        const params = new URLSearchParams(location.search);
        params.set("c", id);
        history.replaceState(null, "", "?" + params.toString());
      }
    }
  });
  // The filter form drives the list URL that live refreshes use.
  document.addEventListener("htmx:configRequest", (ev) => {
    if (ev.detail.elt && ev.detail.elt.id === "filters") {
      const params = new URLSearchParams(ev.detail.parameters);
      const list = $("#conv-list");
      list.dataset.listUrl = "/ui/list?" + params.toString();
      history.replaceState && history.replaceState(null, "", "/?" + params.toString());
    }
  });
  // htmx swaps 4xx answers that ask for it (HX-Reswap): our errors carry their message.
  document.addEventListener("htmx:beforeSwap", (ev) => {
    if (ev.detail.xhr.status === 400 || ev.detail.xhr.status === 403) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    connect();
    tickSla();
    updateCounter();
    setInterval(tickSla, 15000);
  });
})();

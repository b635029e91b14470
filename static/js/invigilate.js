/* 监考 dashboard: a session's learners, live over Socket.IO /proctor.
 *
 * On (re)connect the page asks for a snapshot (every row and the session's version), then
 * applies the pushed deltas in version order; a missing version means a delta was lost,
 * so it asks for the snapshot again. Deltas that arrive while a snapshot is on its way
 * are kept and applied after it. Only the rows in view exist in the DOM (the table is
 * virtualised), a delta touches only the rows it carries, and the counts, sort and
 * filter are recomputed at most once per animation frame.
 */
(function () {
  "use strict";
  const root = document.getElementById("proctor");
  if (!root) return;
  const sessionId = Number(root.dataset.session);
  const STATES = JSON.parse(root.dataset.states);
  const API = root.dataset.api;
  const REASONS = JSON.parse(document.getElementById("preset-reasons").dataset.reasons);
  const photoUrl = (uid) => root.dataset.photo.replace(/\/0$/, "/" + uid);
  const BUFFER = 6; // rows rendered above and below the visible ones
  const STATE_ORDER = { offline: 0, online: 1, waiting: 2, forced: 3, voided: 4, submitted: 5 };
  const collator = new Intl.Collator("zh-Hans-CN");
  const $ = (id) => document.getElementById(id);

  const rows = new Map(); // uid -> row
  const messages = new Map(); // id -> message
  let counts = {};
  let view = []; // uids shown, in order
  let version = -1;
  let loading = false;
  let buffered = [];
  let offset = 0; // server clock minus ours, ms
  let filter = "";
  let query = "";
  let sortKey = "name";
  let selected = null;

  const scroller = $("board-scroll");
  const body = $("board-body");
  const rendered = new Map(); // uid -> <tr> in the DOM
  let rowHeight = 49;
  let windowStart = -1;
  let windowEnd = -1;

  /* ---------------------------------------------------------------- helpers */
  const now = () => Date.now() + offset;
  const pad = (n) => String(n).padStart(2, "0");
  // Times are Beijing time wherever the invigilator's computer is set.
  const beijing = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const clock = (ms) => (ms ? beijing.format(new Date(ms)) : "—");
  function left(row) {
    if (row.state !== "online" && row.state !== "offline") return "";
    const ms = Math.max(0, row.deadline - now());
    const m = Math.floor(ms / 60000);
    return m + ":" + pad(Math.floor((ms % 60000) / 1000));
  }
  function stateText(row) {
    if (row.state === "offline") return STATES.offline + (row.since ? " " + clock(row.since) + " 起" : "");
    if (row.state === "submitted") return STATES.submitted + (row.score != null ? " " + row.score + " 分" : "");
    if (row.state === "forced") return STATES.forced + (row.score != null ? " " + row.score + " 分" : "");
    return STATES[row.state] || row.state;
  }
  function toast(text, error) {
    const el = $("toast");
    el.textContent = text;
    el.className = "toast" + (error ? " error" : "");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
  }
  function setLive(state, text) {
    const el = $("live-state");
    el.dataset.state = state;
    el.textContent = text;
  }

  /* ---------------------------------------------------------------- rows */
  function cell(tr, i) { return tr.children[i]; }
  function makeRow(uid) {
    const tr = document.createElement("tr");
    tr.className = "row";
    tr.dataset.uid = uid;
    tr.innerHTML = "<td></td><td></td><td class=\"mono\"></td><td></td><td class=\"num\"></td>" +
      "<td class=\"left\"></td><td class=\"num\"></td><td class=\"num\"></td><td class=\"num\"></td>" +
      "<td class=\"num\"></td><td class=\"last\"></td>";
    return tr;
  }
  function fill(tr, row) {
    tr.dataset.state = row.state;
    tr.classList.toggle("selected", row.uid === selected);
    const photo = cell(tr, 0);
    if (photo.dataset.has !== String(row.photo)) {
      photo.dataset.has = String(row.photo);
      photo.innerHTML = row.photo
        ? "<img class=\"thumb\" loading=\"lazy\" alt=\"照片\" src=\"" + photoUrl(row.uid) + "\">"
        : "<span class=\"thumb none\">无</span>";
    }
    cell(tr, 1).textContent = row.name;
    cell(tr, 1).title = row.name;
    cell(tr, 2).textContent = row.idm;
    cell(tr, 3).innerHTML = "";
    const badge = document.createElement("span");
    badge.className = "st st-" + row.state;
    badge.textContent = stateText(row);
    cell(tr, 3).appendChild(badge);
    cell(tr, 4).textContent = row.aid ? row.answered + "/" + row.total : "—";
    const l = cell(tr, 5);
    l.textContent = left(row) || "—";
    l.classList.toggle("urgent", !!row.deadline && row.deadline - now() < 5 * 60000 && !!left(row));
    [["focus", 6], ["reconnects", 7], ["devices", 8], ["ipc", 9]].forEach(([k, i]) => {
      const v = row[k] || 0;
      cell(tr, i).textContent = row.aid ? v : "—";
      cell(tr, i).classList.toggle("hot", v > 0 && k !== "reconnects");
    });
    cell(tr, 10).textContent = clock(row.last);
  }

  // Closed papers are counted one by one (a forced paper stays counted after a re-sit):
  // the row shows the learner's current attempt, its ends say how each earlier one ended.
  const ENDED = ["submitted", "forced", "voided"];
  function ended(row, state) {
    return (row.ends && row.ends[state]) || 0;
  }

  function matches(row) {
    if (filter && row.state !== filter && !ended(row, filter)) return false;
    if (!query) return true;
    return row.name.includes(query) || row.idm.toUpperCase().includes(query.toUpperCase());
  }
  const SORTS = {
    name: (a, b) => collator.compare(a.name, b.name),
    state: (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state],
    answered: (a, b) => (b.answered || 0) - (a.answered || 0),
    left: (a, b) => (a.deadline && left(a) ? a.deadline : Infinity) - (b.deadline && left(b) ? b.deadline : Infinity),
    focus: (a, b) => (b.focus || 0) - (a.focus || 0),
    last: (a, b) => (b.last || 0) - (a.last || 0),
  };
  function recompute() {
    const by = SORTS[sortKey];
    const shown = [];
    rows.forEach((row) => { if (matches(row)) shown.push(row); });
    shown.sort((a, b) => by(a, b) || collator.compare(a.name, b.name) || a.uid - b.uid);
    view = shown.map((r) => r.uid);
    counts = { all: rows.size };
    Object.keys(STATES).forEach((k) => { counts[k] = 0; });
    rows.forEach((row) => {
      if (!ENDED.includes(row.state)) counts[row.state] = (counts[row.state] || 0) + 1;
      ENDED.forEach((k) => { counts[k] += ended(row, k); });
    });
    $("count-all").textContent = counts.all;
    Object.keys(STATES).forEach((k) => { $("count-" + k).textContent = counts[k]; });
    $("shown").textContent = "显示 " + view.length + " / " + rows.size + " 人";
    $("board-empty").hidden = view.length > 0 || loading;
    renderWindow(true);
  }
  let frame = 0;
  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; recompute(); });
  }

  function spacer(height) {
    const tr = document.createElement("tr");
    tr.className = "spacer";
    tr.innerHTML = "<td colspan=\"11\"></td>";
    tr.firstChild.style.height = height + "px";
    return tr;
  }
  function renderWindow(force) {
    const top = scroller.scrollTop;
    const start = Math.max(0, Math.floor(top / rowHeight) - BUFFER);
    const end = Math.min(view.length, Math.ceil((top + scroller.clientHeight) / rowHeight) + BUFFER);
    if (!force && start === windowStart && end === windowEnd) return;
    windowStart = start;
    windowEnd = end;
    const frag = document.createDocumentFragment();
    frag.appendChild(spacer(start * rowHeight));
    const keep = new Map();
    for (let i = start; i < end; i += 1) {
      const uid = view[i];
      let tr = rendered.get(uid);
      if (!tr) { tr = makeRow(uid); fill(tr, rows.get(uid)); }
      keep.set(uid, tr);
      frag.appendChild(tr);
    }
    frag.appendChild(spacer((view.length - end) * rowHeight));
    rendered.clear();
    keep.forEach((tr, uid) => rendered.set(uid, tr));
    body.replaceChildren(frag);
    const sample = body.querySelector("tr.row");
    if (sample && sample.offsetHeight && Math.abs(sample.offsetHeight - rowHeight) > 0.5) {
      rowHeight = sample.offsetHeight;
      renderWindow(true);
    }
  }
  scroller.addEventListener("scroll", () => renderWindow(false), { passive: true });
  function fitHeight() {
    const top = scroller.getBoundingClientRect().top;
    scroller.style.height = Math.max(300, window.innerHeight - top - 14) + "px";
    renderWindow(true);
  }
  window.addEventListener("resize", fitHeight);

  /* ---------------------------------------------------------------- snapshot and deltas */
  function applyRows(list, flash) {
    let reorder = false;
    list.forEach((row) => {
      const old = rows.get(row.uid);
      rows.set(row.uid, row);
      if (!old || old.state !== row.state || old[sortKey] !== row[sortKey] || old.deadline !== row.deadline ||
          JSON.stringify(old.ends) !== JSON.stringify(row.ends)) reorder = true;
      const tr = rendered.get(row.uid);
      if (tr) {
        fill(tr, row);
        if (flash) { tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash"); }
      }
      if (row.uid === selected) showLearner(row, true);
    });
    // Counts, filter and order change only with a row's state or sort key.
    if (reorder) schedule();
    scheduleMessages();
  }
  function snapshot() {
    loading = true;
    buffered = [];
    socket.emit("snapshot", {}, (reply) => {
      if (!reply || !reply.ok) { loading = false; setLive("error", (reply && reply.message) || "加载失败，正在重试……"); setTimeout(snapshot, 3000); return; }
      offset = reply.now - Date.now();
      rows.clear();
      rendered.clear();
      reply.rows.forEach((row) => rows.set(row.uid, row));
      messages.clear();
      reply.messages.forEach((m) => messages.set(m.id, m));
      version = reply.version;
      loading = false;
      tick();
      recompute();
      renderMessages();
      setLive("live", "实时更新中");
      root.dataset.version = String(version);
      const pending = buffered.sort((a, b) => a.version - b.version);
      buffered = [];
      pending.forEach(onDelta);
      if (selected && rows.has(selected)) showLearner(rows.get(selected), true);
    });
  }
  function onDelta(delta) {
    if (loading) { buffered.push(delta); return; }
    if (delta.version <= version) return; // already in the snapshot
    if (delta.version !== version + 1) { snapshot(); return; } // a delta was lost
    version = delta.version;
    root.dataset.version = String(version);
    offset = delta.now - Date.now();
    applyRows(delta.rows, true);
  }

  /* ---------------------------------------------------------------- messages */
  function renderMessages() {
    const log = $("message-log");
    if (!messages.size) return;
    const items = Array.from(messages.values()).sort((a, b) => b.id - a.id);
    log.replaceChildren(...items.map((m) => {
      const li = document.createElement("li");
      li.dataset.id = m.id;
      let reads;
      if (m.uid == null) {
        let n = 0;
        rows.forEach((row) => { if (row.reads && row.reads[m.id]) n += 1; });
        reads = "已读 " + n + "/" + rows.size;
      } else {
        const row = rows.get(m.uid);
        const at = row && row.reads && row.reads[m.id];
        reads = at ? "已读 " + clock(at) : "未读";
      }
      const to = m.uid == null ? "全场" : ((rows.get(m.uid) || {}).name || "考生");
      li.innerHTML = "<span class=\"reads\"></span><div class=\"meta\"></div><div class=\"text\"></div>";
      li.querySelector(".reads").textContent = reads;
      li.querySelector(".meta").textContent = clock(m.at) + " 发给" + to + (m.sender ? "（" + m.sender + "）" : "");
      li.querySelector(".text").textContent = m.text;
      return li;
    }));
  }
  let messageTimer = 0;
  function scheduleMessages() {
    if (messageTimer || !messages.size) return;
    messageTimer = setTimeout(() => { messageTimer = 0; renderMessages(); }, 500);
  }

  /* ---------------------------------------------------------------- the selected learner */
  let timelineTimer = 0;
  function showLearner(row, refresh) {
    selected = row.uid;
    $("side-session").hidden = true;
    $("side-learner").hidden = false;
    $("detail-name").textContent = row.name;
    $("detail-id").textContent = row.idm;
    const img = $("detail-photo");
    if (row.photo && !img.src.endsWith("/photo/" + row.uid)) img.src = photoUrl(row.uid);
    $("detail-photo-btn").hidden = !row.photo;
    $("detail-no-photo").hidden = !!row.photo;
    const st = document.createElement("span");
    st.className = "st st-" + row.state;
    st.textContent = stateText(row);
    $("detail-state").replaceChildren(st);
    if (row.state === "submitted" && row.ended) $("detail-state").append(" " + row.ended);
    if (row.reason) $("detail-state").append(" 原因：" + row.reason);
    $("detail-ip").textContent = row.ip ? "IP " + row.ip + (row.n ? " · 第 " + row.n + " 次考试" : "") : "";
    const open = row.state === "online" || row.state === "offline";
    $("act-extend").disabled = !open;
    $("act-force").disabled = !open;
    $("act-void").disabled = !row.aid || row.state === "voided";
    rendered.forEach((tr, uid) => tr.classList.toggle("selected", uid === selected));
    clearTimeout(timelineTimer);
    timelineTimer = setTimeout(loadTimeline, refresh ? 400 : 0);
  }
  function loadTimeline() {
    if (!selected) return;
    const uid = selected;
    socket.emit("timeline", { user_id: uid }, (reply) => {
      if (uid !== selected || !reply || !reply.ok) return;
      const bad = new Set(["focus_lost", "focus_warned", "second_device", "second_device_refused", "ip_changed", "disconnected", "voided", "invigilator"]);
      $("timeline").replaceChildren(...reply.entries.slice().reverse().map((e) => {
        const li = document.createElement("li");
        if (bad.has(e.kind)) li.className = "bad";
        li.innerHTML = "<time></time><span class=\"label\"></span><div class=\"detail\"></div>";
        li.querySelector("time").textContent = clock(e.at);
        li.querySelector(".label").textContent = e.label + (e.attempt && e.attempt > 1 ? "（第 " + e.attempt + " 次）" : "");
        li.querySelector(".detail").textContent = e.detail || "";
        return li;
      }));
    });
  }
  body.addEventListener("click", (e) => {
    const tr = e.target.closest("tr.row");
    if (!tr) return;
    const row = rows.get(Number(tr.dataset.uid));
    if (e.target.classList.contains("thumb") && row.photo) { enlarge(row); return; }
    showLearner(row, false);
  });
  $("close-side").addEventListener("click", () => {
    selected = null;
    $("side-learner").hidden = true;
    $("side-session").hidden = false;
    rendered.forEach((tr) => tr.classList.remove("selected"));
  });
  function enlarge(row) {
    $("photo-large").src = photoUrl(row.uid);
    $("photo-caption").textContent = row.name + " · " + row.idm;
    $("photo-dialog").showModal();
  }
  $("detail-photo-btn").addEventListener("click", () => { if (selected) enlarge(rows.get(selected)); });
  $("photo-close").addEventListener("click", () => $("photo-dialog").close());

  /* ---------------------------------------------------------------- actions */
  const ACTIONS = {
    message: { title: "发送消息", path: "/messages", fields: ["text"], done: "消息已发送" },
    extend: { title: "延长考试时间", path: "/extend", fields: ["minutes", "reason"], reasons: REASONS.extend },
    force: { title: "强制交卷", path: "/force-submit", fields: ["reason"], reasons: REASONS.force },
    void: { title: "作废本次考试", path: "/void", fields: ["reason"], reasons: REASONS.void },
  };
  let acting = null;
  function openAction(kind, row) {
    const a = ACTIONS[kind];
    acting = { kind, row };
    $("act-title").textContent = a.title + (row ? "" : "（全场）");
    $("act-target").textContent = row
      ? row.name + " · " + row.idm + (kind === "void" ? "。作废后本次考试成绩无效，已发放的证书将被撤销。" : "")
      : (kind === "extend" ? "为本考场所有正在作答的考生延长时间（不超过本批次考试截止时间）。" : "发送给本考场全部考生。");
    $("act-text-label").hidden = !a.fields.includes("text");
    $("act-minutes-label").hidden = !a.fields.includes("minutes");
    $("act-reason-label").hidden = !a.fields.includes("reason");
    $("act-reasons").replaceChildren(...(a.reasons || []).map((r) => { const o = document.createElement("option"); o.value = r; return o; }));
    $("act-text").value = "";
    $("act-reason").value = "";
    $("act-confirm").className = "btn" + (kind === "force" || kind === "void" ? " danger" : "");
    $("act-confirm").disabled = false;
    window.SafeCE.say($("act-msg"), "");
    $("act-dialog").showModal();
    (a.fields.includes("text") ? $("act-text") : a.fields.includes("minutes") ? $("act-minutes") : $("act-reason")).focus();
  }
  $("act-cancel").addEventListener("click", () => $("act-dialog").close());
  $("act-confirm").addEventListener("click", async () => {
    if (!acting) return;
    const a = ACTIONS[acting.kind];
    const body = {};
    if (a.fields.includes("text")) body.text = $("act-text").value;
    if (a.fields.includes("minutes")) body.minutes = Number($("act-minutes").value);
    if (a.fields.includes("reason")) body.reason = $("act-reason").value;
    if (acting.kind === "message") { if (acting.row) body.user_id = acting.row.uid; }
    else if (acting.row) body.attempt_id = acting.row.aid;
    $("act-confirm").disabled = true;
    const res = await window.SafeCE.api(API + a.path, body);
    $("act-confirm").disabled = false;
    if (!res.ok) { window.SafeCE.say($("act-msg"), res.data.message || "操作失败，请重试", "error"); return; }
    $("act-dialog").close();
    toast(res.data.notice || a.done || "已完成");
  });
  $("act-message").addEventListener("click", () => openAction("message", rows.get(selected)));
  $("act-extend").addEventListener("click", () => openAction("extend", rows.get(selected)));
  $("act-force").addEventListener("click", () => openAction("force", rows.get(selected)));
  $("act-void").addEventListener("click", () => openAction("void", rows.get(selected)));
  $("all-message").addEventListener("click", () => openAction("message", null));
  $("all-extend").addEventListener("click", () => openAction("extend", null));

  /* ---------------------------------------------------------------- filters */
  $("state-counts").addEventListener("click", (e) => {
    const chip = e.target.closest(".count-chip");
    if (!chip) return;
    filter = chip.dataset.state;
    document.querySelectorAll(".count-chip").forEach((c) => c.classList.toggle("active", c === chip));
    scroller.scrollTop = 0;
    schedule();
  });
  let searchTimer = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { query = $("search").value.trim(); scroller.scrollTop = 0; schedule(); }, 150);
  });
  $("sort").addEventListener("change", () => { sortKey = $("sort").value; schedule(); });

  /* ---------------------------------------------------------------- clock */
  function tick() {
    $("server-clock").textContent = clock(now());
    rendered.forEach((tr, uid) => {
      const row = rows.get(uid);
      if (!row || (row.state !== "online" && row.state !== "offline")) return;
      const l = cell(tr, 5);
      l.textContent = left(row);
      l.classList.toggle("urgent", row.deadline - now() < 5 * 60000);
    });
  }
  setInterval(tick, 1000);

  /* ---------------------------------------------------------------- connection */
  const socket = io("/proctor", { auth: { session_id: sessionId }, transports: ["websocket"], reconnectionDelayMax: 5000 });
  socket.on("connect", () => { setLive("connecting", "正在加载……"); snapshot(); });
  socket.on("rows", onDelta);
  socket.on("message_sent", (m) => { messages.set(m.id, m); renderMessages(); });
  socket.on("disconnect", () => setLive("connecting", "连接中断，正在重新连接……"));
  socket.on("connect_error", (err) => {
    const data = err && err.data;
    setLive("error", (data && data.message) || "无法连接服务器，正在重试……");
  });
  socket.on("revoked", (data) => { setLive("error", data.message); socket.disconnect(); });
  fitHeight();
})();

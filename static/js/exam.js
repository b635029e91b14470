/* 我的考试 (start dialog) and the exam page: server clock, autosave over Socket.IO, submit.
 *
 * The page never trusts its own clock for the deadline: it keeps the offset to the
 * server's time (sent on join and on each sync, every ~30 s and when the page regains
 * focus) and only counts down locally in between. Every answer gets a sequence number and
 * stays in localStorage until the server acknowledges it (after its commit); unacknowledged
 * answers are resent after reconnecting, even after a reload.
 */
(function () {
  "use strict";
  const SYNC_MS = 30000;
  const RETRY_MS = 5000;
  const ACK_TIMEOUT_MS = 10000;

  // iPadOS Safari presents itself as a Mac; only touch support gives it away.
  const isTablet = () => navigator.maxTouchPoints > 1 && /Macintosh/.test(navigator.userAgent);

  /* ---------------------------------------------------------------- 我的考试 */
  const startDialog = document.getElementById("start-dialog");
  if (startDialog) {
    const agree = document.getElementById("start-agree");
    const confirmBtn = document.getElementById("start-confirm");
    const msg = document.getElementById("start-msg");
    let batch = null;
    document.querySelectorAll(".start-exam").forEach((btn) => {
      btn.addEventListener("click", () => {
        if (isTablet()) { alert(startDialog.dataset.computerOnly); return; }
        batch = btn.dataset.batch;
        document.getElementById("start-number").textContent = btn.dataset.number;
        agree.checked = false;
        confirmBtn.disabled = true;
        window.SafeCE.say(msg, "");
        startDialog.showModal();
      });
    });
    agree.addEventListener("change", () => { confirmBtn.disabled = !agree.checked; });
    confirmBtn.addEventListener("click", async () => {
      confirmBtn.disabled = true;
      window.SafeCE.say(msg, "正在生成试卷……");
      const res = await window.SafeCE.api("/api/exams/" + batch + "/start", {});
      if (res.ok) { window.location.href = res.data.url; return; }
      window.SafeCE.say(msg, res.data.message || "无法开始考试，请稍后再试", "error");
      confirmBtn.disabled = false;
    });
  }

  /* ---------------------------------------------------------------- exam page */
  const root = document.getElementById("exam");
  if (!root) return;
  const attemptId = Number(root.dataset.attempt);
  const resultDialog = document.getElementById("result-dialog");
  const blockedDialog = document.getElementById("blocked-dialog");

  function showResult(result) {
    document.getElementById("result-text").textContent = result.message;
    const again = !result.passed && result.attempts_left > 0;
    document.getElementById("go-continue").hidden = !again;
    document.getElementById("go-records").hidden = again;
    if (!resultDialog.open) resultDialog.showModal();
  }
  // Refusals that retrying cannot fix, with the way out each offers (docs/realtime.md).
  const ENDED = {
    login_required: { label: "重新登录", href: () => "/login?next=" + encodeURIComponent(location.pathname) },
    must_change_password: { label: "修改密码", href: () => "/password" },
    forbidden: null,
    computer_only: null,
  };
  function block(message, code) {
    const action = document.getElementById("blocked-action");
    const way = ENDED[code];
    action.hidden = !way;
    if (way) { action.textContent = way.label; action.href = way.href(); }
    document.getElementById("blocked-text").textContent = message;
    document.querySelectorAll("#paper input").forEach((i) => { i.disabled = true; });
    const submitBtn = document.getElementById("submit-btn");
    if (submitBtn) submitBtn.disabled = true;
    if (resultDialog.open) return;
    if (!blockedDialog.open) blockedDialog.showModal();
  }
  // Dialogs here are decisions, not notices: Esc must not dismiss them.
  [resultDialog, blockedDialog].forEach((d) => d.addEventListener("cancel", (e) => e.preventDefault()));

  if (root.dataset.status !== "open") {
    showResult(JSON.parse(root.dataset.result));
    return;
  }
  if (isTablet()) { block(root.dataset.computerOnly); return; }

  const key = (name) => "safece.exam." + attemptId + "." + name;
  function load(name, fallback) {
    try { return JSON.parse(localStorage.getItem(key(name))) ?? fallback; } catch (e) { return fallback; }
  }
  function store(name, value) {
    try { localStorage.setItem(key(name), JSON.stringify(value)); } catch (e) { /* private mode: memory only */ }
  }

  // One id per browser tab (sessionStorage survives a reload, not a new tab or device).
  let tab = sessionStorage.getItem(key("tab"));
  if (!tab) {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    tab = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(key("tab"), tab);
  }

  const pending = load("pending", {}); // question id -> {value, seq}, not yet acknowledged
  let seq = Math.max(Number(root.dataset.maxSeq) || 0, load("seq", 0),
    ...Object.values(pending).map((p) => p.seq));
  const inflight = new Set();
  let joined = false;
  let closed = false;
  let takenOver = false;
  let timeIsUp = false;
  let busy = false; // the server said it could not save just now: it is retried

  const countdown = document.getElementById("countdown");
  const focusCount = document.getElementById("focus-count");
  const notice = document.getElementById("exam-notice");
  const saveState = document.getElementById("save-state");
  const connState = document.getElementById("conn-state");
  const submitBtn = document.getElementById("submit-btn");
  const answeredCount = document.getElementById("answered-count");

  /* -------- clock */
  let offset = Number(root.dataset.now) - Date.now();
  let deadline = Number(root.dataset.deadline);
  function setClock(serverNow, serverDeadline, sentAt) {
    const received = Date.now();
    // Half the round trip is the best guess of how old the server's reading is.
    offset = serverNow + (received - sentAt) / 2 - received;
    deadline = serverDeadline;
    render();
  }
  function render() {
    if (closed) return;
    const left = Math.max(0, deadline - (Date.now() + offset));
    const minutes = Math.floor(left / 60000);
    const seconds = Math.floor((left % 60000) / 1000);
    countdown.textContent = minutes + " 分 " + String(seconds).padStart(2, "0") + " 秒";
    countdown.classList.toggle("urgent", left < 5 * 60000);
    if (left <= 0 && !timeIsUp && !closed) timeUp();
  }
  render();
  setInterval(render, 1000);

  /* -------- answers */
  const fieldsets = Array.from(document.querySelectorAll(".question"));
  const byId = new Map(fieldsets.map((f) => [f.dataset.qid, f]));
  function valueOf(fs) {
    return Array.from(fs.querySelectorAll("input:checked")).map((i) => i.value).sort().join("");
  }
  function showValue(qid, value) {
    const fs = byId.get(String(qid));
    if (!fs) return;
    fs.querySelectorAll("input").forEach((i) => { i.checked = value.includes(i.value); });
    mark(qid);
  }
  function mark(qid) {
    const fs = byId.get(String(qid));
    const answered = valueOf(fs) !== "";
    const link = document.getElementById("nav-" + qid);
    link.classList.toggle("answered", answered);
    const unsaved = String(qid) in pending;
    link.classList.toggle("unsaved", unsaved);
    // What a screen reader says on the navigator: the number and whether it is answered.
    link.setAttribute("aria-label", "第 " + link.textContent + " 题，" + (answered ? "已作答" : "未作答")
      + (unsaved ? "，未保存" : ""));
    fs.querySelector(".q-state").textContent = unsaved ? "未保存" : "";
    answeredCount.textContent = fieldsets.filter((f) => valueOf(f) !== "").length;
  }
  function updateSaveState() {
    const n = Object.keys(pending).length;
    saveState.dataset.state = n ? "unsaved" : "saved";
    const how = busy ? "：系统繁忙，答案已暂存在本机，正在自动重试……"
      : socket.connected ? "，正在保存……" : "，网络恢复后自动保存";
    saveState.textContent = n ? n + " 题未保存" + how : "所有答案已保存";
  }
  // Unacknowledged answers from before a reload are newer than what the server rendered.
  Object.entries(pending).forEach(([qid, p]) => showValue(qid, p.value));

  /* -------- keyboard: the navigator and Alt+↓/↑ move the focus into a question */
  function focusQuestion(fs) {
    if (!fs) return;
    const input = fs.querySelector("input:checked") || fs.querySelector("input");
    fs.scrollIntoView({ block: "center" });
    if (input) input.focus({ preventScroll: true });
  }
  document.querySelectorAll("#navigator a[data-qid]").forEach((link) => {
    link.addEventListener("click", () => {
      // After the browser has followed the link (so :target marks the question).
      setTimeout(() => focusQuestion(byId.get(link.dataset.qid)), 0);
    });
  });
  document.getElementById("paper").addEventListener("keydown", (e) => {
    if (!e.altKey || (e.key !== "ArrowDown" && e.key !== "ArrowUp")) return;
    const here = e.target.closest(".question");
    if (!here) return;
    e.preventDefault();
    const at = fieldsets.indexOf(here) + (e.key === "ArrowDown" ? 1 : -1);
    focusQuestion(fieldsets[Math.max(0, Math.min(fieldsets.length - 1, at))]);
  });

  fieldsets.forEach((fs) => {
    fs.addEventListener("change", () => {
      if (closed || timeIsUp || takenOver) return;
      const qid = fs.dataset.qid;
      seq += 1;
      pending[qid] = { value: valueOf(fs), seq };
      store("pending", pending);
      store("seq", seq);
      mark(qid);
      updateSaveState();
      send(qid);
    });
  });

  function send(qid) {
    const p = pending[qid];
    if (!p || !joined || !socket.connected || inflight.has(qid + ":" + p.seq)) return;
    const tag = qid + ":" + p.seq;
    inflight.add(tag);
    socket.timeout(ACK_TIMEOUT_MS).emit("answer", { question_id: Number(qid), value: p.value, seq: p.seq },
      (err, reply) => {
        inflight.delete(tag);
        if (err) return; // no ack in time: the retry loop sends it again
        if (reply.ok) {
          busy = false;
          if (pending[qid] && pending[qid].seq <= reply.seq) {
            delete pending[qid];
            store("pending", pending);
          }
          mark(qid);
          updateSaveState();
          return;
        }
        if (reply.code === "taken_over") { takenOver = true; block(reply.message); return; }
        if (reply.code in ENDED) { sessionEnded(reply); return; }
        if (reply.code === "busy") { busy = true; updateSaveState(); return; } // resent by the retry loop
        if (reply.code === "time_up" || reply.code === "attempt_closed") { timeUp(); return; }
        if (reply.code === "bad_value" || reply.code === "unknown_question") {
          // The server will never take this value: drop it so it is not resent forever.
          delete pending[qid];
          store("pending", pending);
          byId.get(String(qid)).querySelector(".q-state").textContent = reply.message;
          updateSaveState();
        }
      });
  }
  function flush() { Object.keys(pending).forEach(send); }
  setInterval(flush, RETRY_MS);

  /* -------- connection */
  const socket = io("/exam", { transports: ["websocket"], reconnectionDelayMax: 5000 });
  updateSaveState();
  function setConn(text) {
    connState.hidden = !text;
    connState.textContent = text || "";
  }
  function join() {
    const sentAt = Date.now();
    socket.emit("join", { attempt_id: attemptId, tab }, (reply) => {
      if (!reply.ok) {
        if (reply.code === "second_device") { takenOver = true; block(reply.message); socket.disconnect(); return; }
        if (reply.code in ENDED) { sessionEnded(reply); return; }
        setConn(reply.message);
        if (reply.code === "busy") setTimeout(() => { if (socket.connected && !joined) join(); }, RETRY_MS);
        return;
      }
      if (reply.status === "closed") { finish(reply.result); return; }
      setConn("");
      setClock(reply.now, reply.deadline, sentAt);
      Object.entries(reply.answers).forEach(([qid, a]) => {
        if (pending[qid] && pending[qid].seq > a.seq) return; // ours is newer: resend it
        delete pending[qid];
        showValue(qid, a.value);
      });
      store("pending", pending);
      seq = Math.max(seq, reply.max_seq);
      joined = true;
      updateSaveState();
      flush();
      if (reply.focus) showFocus(reply.focus.count);
      (reply.messages || []).forEach(receive);
      sendReads();
    });
  }
  socket.on("connect", join);
  socket.on("disconnect", (reason) => {
    joined = false;
    if (closed || takenOver) return;
    setConn("网络连接中断，正在重新连接……答案已暂存在本机。");
    updateSaveState();
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 2000);
  });
  // The session ended (logged out elsewhere, password changed, expired), or this page may
  // not take part: answers stay in this browser and are sent after logging in again.
  function sessionEnded(data) {
    takenOver = true;
    socket.disconnect();
    setConn(data.message);
    block(data.message, data.code);
  }
  socket.on("connect_error", (err) => {
    const data = (err && err.data) || {};
    if (data.code in ENDED) { sessionEnded(data); return; }
    // Anything else passes (busy, the network, a restarting server): keep trying.
    setConn((data.message || "无法连接服务器，正在重试……") + "答案已暂存在本机。");
    if (!socket.active) setTimeout(() => { if (!closed && !takenOver) socket.connect(); }, RETRY_MS);
  });
  socket.on("submitted", (result) => finish(result));
  socket.on("deadline", (data) => {
    setClock(data.now, data.deadline, Date.now());
    if (timeIsUp && data.deadline > data.now) reopen();
    if (data.added_seconds > 0) {
      say(notice, "监考员已为您延长考试时间 " + Math.round(data.added_seconds / 60) + " 分钟，新的结束时间为 " +
        hhmm(data.deadline) + "。");
    }
  });
  socket.on("message", receive);

  // Beijing time, whatever the computer's own time zone.
  const beijing = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const hhmm = (ms) => beijing.format(new Date(ms));

  /* -------- invigilators' messages: a banner the learner must dismiss */
  const banner = document.getElementById("proctor-banner");
  const queue = []; // messages not yet dismissed, oldest first
  const dismissed = new Set(load("read", [])); // dismissed here, the server not told yet
  function receive(m) {
    if (closed || queue.some((q) => q.id === m.id)) return;
    if (dismissed.has(m.id)) { sendReads(); return; }
    queue.push(m);
    showBanner();
  }
  function showBanner() {
    const m = queue[0];
    banner.hidden = !m;
    if (!m) return;
    document.getElementById("banner-title").textContent = m.scope === "all" ? "监考消息（全场）" : "监考消息";
    document.getElementById("banner-time").textContent = hhmm(m.sent_at);
    document.getElementById("banner-text").textContent = m.text;
    document.getElementById("banner-more").textContent = queue.length > 1 ? "（还有 " + (queue.length - 1) + " 条）" : "";
    document.getElementById("banner-ok").focus();
  }
  function sendReads() {
    if (!joined) return;
    dismissed.forEach((id) => {
      socket.emit("message_read", { message_id: id }, (reply) => {
        if (reply && (reply.ok || reply.code === "not_found")) {
          dismissed.delete(id);
          store("read", Array.from(dismissed));
        }
      });
    });
  }
  document.getElementById("banner-ok").addEventListener("click", () => {
    const m = queue.shift();
    if (m) {
      dismissed.add(m.id);
      store("read", Array.from(dismissed));
      sendReads();
    }
    showBanner();
  });

  /* -------- leaving the page: the count, and the batch's warning */
  const warningDialog = document.getElementById("warning-dialog");
  warningDialog.addEventListener("cancel", (e) => e.preventDefault());
  document.getElementById("warning-ok").addEventListener("click", () => warningDialog.close());
  function showFocus(count) {
    focusCount.textContent = count;
    document.getElementById("focus-state").classList.toggle("warned", count > 0);
  }
  function warn(text) {
    document.getElementById("warning-text").textContent = text;
    if (!warningDialog.open && !resultDialog.open) warningDialog.showModal();
  }
  function say(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }
  socket.on("taken_over", (msg) => { takenOver = true; block(msg.message); });

  function sync() {
    if (!joined || closed) return;
    const sentAt = Date.now();
    socket.timeout(ACK_TIMEOUT_MS).emit("sync", {}, (err, reply) => {
      if (!err && reply.code in ENDED) { sessionEnded(reply); return; }
      if (err || !reply.ok) return;
      if (reply.status !== "open" && reply.result) { finish(reply.result); return; }
      setClock(reply.now, reply.deadline, sentAt);
      if (timeIsUp && reply.deadline > reply.now) reopen(); // an invigilator gave more time
    });
  }
  setInterval(sync, SYNC_MS);

  /* -------- leaving the page */
  let focusTimer = null;
  function reportFocus() {
    if (focusTimer || closed) return;
    // A tab switch fires both blur and visibilitychange: report it once.
    focusTimer = setTimeout(() => {
      focusTimer = null;
      if (!joined) return;
      socket.emit("focus", { state: document.hidden ? "hidden" : "blur" }, (reply) => {
        if (!reply || !reply.ok) return;
        if (reply.focus_losses != null) showFocus(reply.focus_losses);
        if (reply.result) finish(reply.result);
        else if (reply.warning) warn(reply.warning);
      });
    }, 200);
  }
  window.addEventListener("blur", reportFocus);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) reportFocus(); else sync();
  });
  window.addEventListener("focus", sync);
  window.addEventListener("beforeunload", (e) => {
    if (closed || takenOver) return;
    if (Object.keys(pending).length || root.dataset.policy === "forfeit") {
      e.preventDefault();
      e.returnValue = "";
    }
  });

  /* -------- the end */
  function lock() {
    document.querySelectorAll("#paper input").forEach((i) => { i.disabled = true; });
    submitBtn.disabled = true;
  }
  function reopen() {
    timeIsUp = false;
    document.querySelectorAll("#paper input").forEach((i) => { i.disabled = false; });
    submitBtn.disabled = false;
    setConn("");
    render();
  }
  function timeUp() {
    if (timeIsUp || closed) return;
    timeIsUp = true;
    lock();
    countdown.textContent = "0 分 00 秒";
    setConn("考试时间到，系统正在自动提交试卷……");
    // The server submits on its own; ask only if its answer is late (staggered, so that
    // thousands of pages do not ask at the same moment).
    const ask = () => {
      if (closed || !timeIsUp) return;
      if (socket.connected && joined) sync();
      else httpSubmit();
      setTimeout(ask, 5000);
    };
    setTimeout(ask, 3000 + Math.random() * 3000);
  }
  function finish(result) {
    if (closed) return;
    closed = true;
    lock();
    setConn("");
    countdown.textContent = "已结束";
    countdown.classList.remove("urgent");
    banner.hidden = true;
    if (warningDialog.open) warningDialog.close();
    ["pending", "seq", "read"].forEach((n) => localStorage.removeItem(key(n)));
    socket.disconnect();
    showResult(result);
  }
  async function httpSubmit() {
    const res = await window.SafeCE.api(root.dataset.submitUrl, {});
    if (res.ok) finish(res.data.result);
    else if (res.data.code in ENDED) sessionEnded(res.data);
    return res;
  }

  const confirmDialog = document.getElementById("confirm-dialog");
  const confirmText = document.getElementById("confirm-text");
  const confirmSubmit = document.getElementById("confirm-submit");
  submitBtn.addEventListener("click", () => {
    const unanswered = fieldsets.filter((f) => valueOf(f) === "").length;
    const unsaved = Object.keys(pending).length;
    let text = unanswered ? "您还有 " + unanswered + " 题未作答。" : "您已完成全部试题。";
    if (unsaved) text += "还有 " + unsaved + " 题答案尚未保存到服务器，" + (socket.connected ? "提交前会先保存。" : "网络恢复前提交，这些答案将不计分。");
    confirmText.textContent = text + "确定要提交试卷吗？试卷一经提交，将结束本次考试。";
    confirmSubmit.disabled = false;
    confirmDialog.showModal();
  });
  document.getElementById("confirm-cancel").addEventListener("click", () => confirmDialog.close());
  confirmSubmit.addEventListener("click", async () => {
    confirmSubmit.disabled = true;
    confirmText.textContent = "正在提交……";
    // Give unsaved answers a moment to reach the server first.
    for (let i = 0; i < 50 && Object.keys(pending).length && socket.connected; i += 1) {
      flush();
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = (result) => { confirmDialog.close(); finish(result); };
    if (socket.connected && joined) {
      socket.timeout(ACK_TIMEOUT_MS).emit("submit", {}, async (err, reply) => {
        if (!err && reply.ok) { done(reply.result); return; }
        const res = await httpSubmit();
        if (res.ok) { confirmDialog.close(); return; }
        confirmText.textContent = (reply && reply.message) || res.data.message || "提交失败，请重试";
        confirmSubmit.disabled = false;
      });
    } else {
      const res = await httpSubmit();
      if (res.ok) { confirmDialog.close(); return; }
      confirmText.textContent = res.data.message || "提交失败，请检查网络后重试";
      confirmSubmit.disabled = false;
    }
  });
})();

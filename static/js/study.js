/* The video page: plays the video and reports it to the server, which decides what counts.
   Beats go over Socket.IO namespace /study, or POST /api/study/* when sockets fail.
   The server may answer a beat with an attention check (防挂机): the page pauses the video
   and shows the code image until it is answered. After too many wrong codes the server
   pauses the learner's credit for a while (`lock`): the page says why and counts down.
   Protocol: docs/realtime.md. */
(function () {
  "use strict";
  const box = document.getElementById("player");
  if (!box) return;
  const video = document.getElementById("study-video");
  const stateEl = document.getElementById("study-state");
  const dot = document.getElementById("study-dot");
  const msg = document.getElementById("study-msg");
  const videoId = Number(box.dataset.videoId);
  const resumeAt = Number(box.dataset.resume) || 0;
  const intervalMs = Math.max(1, Number(box.dataset.interval) || 15) * 1000;

  let token = null;
  let seq = 0;
  let timer = null;
  let lastTime = 0;
  let credited = 0;
  let starting = null;
  let socket = null;
  let httpOnly = typeof window.io !== "function";

  function status(text, kind) {
    stateEl.textContent = text;
    dot.className = "dot " + (kind || "");
  }
  /* What the page itself notices (倍速, the page sent to the background) stays until the
     learner plays again or the server says something: a beat's empty reply a second later
     must not wipe it before it is read. */
  let told = false;
  function say(text, kind) { told = false; window.SafeCE.say(msg, text, kind); }
  function tell(text, kind) { say(text, kind); told = true; }

  async function http(event, payload) {
    const res = await window.SafeCE.api("/api/study/" + event, payload);
    return res.ok ? res.data : Object.assign({ ok: false }, res.data);
  }
  function send(event, payload) {
    if (httpOnly || !socket || !socket.connected) return http(event, payload);
    return new Promise((resolve) => {
      socket.timeout(8000).emit(event, payload, (err, reply) => {
        resolve(err ? http(event, payload) : reply);
      });
    });
  }

  // Refusals that retrying cannot fix, with the way out each offers (docs/realtime.md).
  const ENDED = {
    login_required: { label: "重新登录", href: () => "/login?next=" + encodeURIComponent(location.pathname) },
    must_change_password: { label: "修改密码", href: () => "/password" },
    forbidden: null,
  };
  let over = false;
  function sessionEnded(data) {
    over = true;
    if (socket) socket.disconnect();
    stopped(data.message);
    const way = ENDED[data.code];
    if (way) {
      const link = document.createElement("a");
      link.className = "btn small";
      link.id = "study-action";
      link.textContent = way.label;
      link.href = way.href();
      msg.append(" ", link);
    }
  }

  if (!httpOnly) {
    socket = window.io("/study", { reconnectionDelayMax: 10000 });
    socket.on("connect", () => { if (!token) status("已连接，播放视频即开始计时", ""); });
    socket.on("connect_error", (err) => {
      const data = (err && err.data) || {};
      if (data.code in ENDED) { sessionEnded(data); return; }
      if (data.code) {
        // busy: the server will take us shortly; try again.
        status(data.message, "warn");
        if (!socket.active) setTimeout(() => { if (!over) socket.connect(); }, 3000);
        return;
      }
      // No WebSocket or polling through this network: the HTTP fallback has the same rules.
      httpOnly = true;
      socket.disconnect();
      status(token ? "正在计时" : "播放视频即开始计时", token ? "live" : "");
    });
    socket.on("disconnect", (reason) => {
      // Closed by the server (e.g. the session ended): reconnecting tells us why.
      if (reason === "io server disconnect" && !over) setTimeout(() => socket.connect(), 500);
    });
    socket.on("ended", (data) => { if (data && data.token === token) stopped(data.message); });
  } else {
    status("播放视频即开始计时", "");
  }

  /* -------- attention checks: shown over the player until answered */
  const att = {
    box: document.getElementById("attention"),
    form: document.getElementById("attention-form"),
    img: document.getElementById("attention-img"),
    input: document.getElementById("attention-code"),
    submit: document.getElementById("attention-submit"),
    text: document.getElementById("attention-text"),
    left: document.getElementById("attention-left"),
    msg: document.getElementById("attention-msg"),
    retry: document.getElementById("attention-retry"),
    row: document.getElementById("attention-row"),
    nonce: null, locked: false, deadline: 0, offset: 0, timer: null,
  };
  const EXPIRED_TEXT = "验证已超时，验证出现以来的学习时长不计入。请点击“重新验证”获取新的验证码。";
  const UNLOCKED_TEXT = "暂停已结束，请点击“重新验证”获取新的验证码，验证通过后继续计时。";

  function showChallenge(ch) {
    const fresh = ch.nonce !== att.nonce;
    att.nonce = ch.nonce;
    att.locked = false;
    att.deadline = ch.deadline;
    att.offset = ch.now - Date.now(); // count down on the server's clock
    if (fresh) {
      att.img.src = ch.image;
      att.row.hidden = false;
      att.input.value = "";
      att.text.textContent = ch.message;
      att.retry.hidden = true;
      att.submit.disabled = false;
      att.input.disabled = false;
    }
    openDialog("请先完成验证：输入图中的字符后继续计时");
    if (fresh) att.input.focus();
  }
  /* Too many wrong codes: no code to answer until the pause ends, then 重新验证. */
  function showLock(lock) {
    const fresh = !att.locked;
    att.nonce = null;
    att.locked = true;
    att.deadline = lock.until;
    att.offset = lock.now - Date.now();
    att.row.hidden = true;
    att.img.removeAttribute("src");
    att.text.textContent = lock.message;
    att.retry.hidden = true;
    openDialog("验证码连续输入错误，暂停计时中");
    if (fresh) att.text.focus();
  }
  function openDialog(state) {
    att.box.hidden = false;
    if (!video.paused) video.pause(); // its pause beat reports the play up to here
    status(state, "paused");
    clearInterval(att.timer);
    countdown();
    att.timer = setInterval(countdown, 1000);
  }
  function countdown() {
    const left = Math.ceil((att.deadline - (Date.now() + att.offset)) / 1000);
    if (left > 0) {
      att.left.textContent = att.locked ? "暂停剩余 " + minutes(left) : "剩余 " + left + " 秒";
      return;
    }
    clearInterval(att.timer);
    expired(att.locked ? UNLOCKED_TEXT : EXPIRED_TEXT);
  }
  function expired(text) {
    att.left.textContent = "已超时";
    att.text.textContent = text;
    att.submit.disabled = true;
    att.input.disabled = true;
    att.retry.hidden = false;
    att.retry.focus();
  }
  function hideChallenge() {
    if (!att.nonce && !att.locked) return;
    att.nonce = null;
    att.locked = false;
    clearInterval(att.timer);
    att.box.hidden = true;
    att.msg.textContent = "";
  }
  if (att.box) {
    att.form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const code = att.input.value.trim();
      if (!code) { att.msg.textContent = "请输入图中的字符"; att.input.focus(); return; }
      if (!token || !att.nonce) return;
      att.submit.disabled = true;
      const reply = await send("answer", { token, nonce: att.nonce, code });
      att.submit.disabled = false;
      if (!reply.ok) {
        if (reply.code === "attention_expired") { expired(reply.message); return; }
        if (reply.code === "attention_locked" && reply.lock) { showLock(reply.lock); return; }
        if (reply.code === "play_replaced" || reply.code === "study_closed" || reply.code === "play_expired") {
          hideChallenge();
          stopped(reply.message);
          return;
        }
        att.msg.textContent = reply.message || "验证未能提交，请检查网络后重试";
        return;
      }
      if (reply.passed) {
        hideChallenge();
        handle(reply);
        video.play().catch(() => { status("验证通过，请点击播放继续学习", ""); });
        return;
      }
      handle(reply); // a new code to read, or a pause
      att.msg.textContent = reply.lock ? "" : reply.message;
    });
    // The page's 重新验证: a beat in place; the server answers it with a new challenge.
    att.retry.addEventListener("click", () => { att.msg.textContent = ""; beat("pause"); });
  }

  function stopped(text) {
    hideChallenge();
    token = null;
    clearTimeout(timer);
    if (!video.paused) { video.dataset.stoppedByServer = "1"; video.pause(); }
    status("已停止计时", "stopped");
    say(text, "error");
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => beat("tick"), intervalMs);
  }

  async function start() {
    if (starting) return starting;
    starting = (async () => {
      const reply = await send("start", { video_id: videoId });
      starting = null;
      if (!reply.ok && reply.code in ENDED) { sessionEnded(reply); return false; }
      if (!reply.ok) {
        video.pause();
        status("未能开始计时", "warn");
        say(reply.message || "未能开始计时，请刷新页面后重试", "error");
        return false;
      }
      token = reply.token;
      seq = 0;
      lastTime = video.currentTime;
      if (!told) say("");
      status("正在计时（每 " + Math.round(intervalMs / 1000) + " 秒向服务器报告一次）", "live");
      if (!video.paused) schedule();
      return true;
    })();
    return starting;
  }

  async function beat(reason, extra) {
    if (!token) return;
    if (reason === "tick") schedule();
    seq += 1;
    const payload = Object.assign({
      token, seq, reason,
      position: reason === "seek" ? lastTime : video.currentTime,
      rate: video.playbackRate,
    }, extra || {});
    if (reason === "ended") payload.position = video.duration || payload.position;
    const sentToken = token;
    const reply = await send("beat", payload);
    if (sentToken !== token) return;
    handle(reply);
  }

  function handle(reply) {
    if (!reply.ok) {
      if (reply.code in ENDED) { sessionEnded(reply); return; }
      if (reply.code === "stale_beat") return;
      if (reply.code === "play_expired") {
        token = null;
        if (!video.paused) start();
        return;
      }
      if (reply.code === "play_replaced" || reply.code === "study_closed") { stopped(reply.message); return; }
      say(reply.message || "学习记录未能保存，请检查网络", "error");
      return;
    }
    credited += reply.credited_s || 0;
    const held = reply.held_s >= 1 ? "，" + Math.floor(reply.held_s) + " 秒待验证" : "";
    document.getElementById("credited").textContent = "本次已计入 " + Math.floor(credited) + " 秒" + held;
    if (reply.lock && att.box) showLock(reply.lock);
    else if (reply.challenge && att.box) showChallenge(reply.challenge);
    else hideChallenge();
    if (reply.percent !== undefined) showPercent(reply.percent, reply.complete);
    if (reply.message) say(reply.message, reply.note ? "error" : "");
    else if (reply.course_complete) say("本课程已全部学完，课程学时已计入总学习时长", "ok");
    else if (reply.complete) say("本视频已学完", "ok");
    else if (!told) say("");
  }

  function showPercent(pct, complete) {
    document.getElementById("video-bar").style.width = pct + "%";
    document.getElementById("video-pct").textContent = pct + "%";
    const item = document.querySelector('#video-list li[data-video="' + videoId + '"]');
    if (item) {
      item.querySelector(".vpct").textContent = pct + "%";
      item.querySelector(".state").textContent = complete ? "●" : "◐";
      item.classList.toggle("done", !!complete);
    }
    if (complete) {
      const next = document.getElementById("next-link");
      if (next) next.hidden = false;
    }
  }

  video.addEventListener("loadedmetadata", () => {
    if (resumeAt > 0 && resumeAt < video.duration) {
      video.currentTime = resumeAt;
      lastTime = resumeAt;
      say("已从上次学习位置 " + clock(resumeAt) + " 继续", "");
    }
  });
  video.addEventListener("timeupdate", () => { if (!video.seeking) lastTime = video.currentTime; });
  video.addEventListener("play", async () => {
    if (over) { video.pause(); return; }
    if (att.nonce || att.locked) {
      video.pause();
      if (!att.retry.hidden) att.retry.focus();
      else if (att.nonce) att.input.focus();
      return;
    }
    if (video.playbackRate !== 1) video.playbackRate = 1;
    if (told) say("");
    if (!token) { await start(); return; }
    status("正在计时（每 " + Math.round(intervalMs / 1000) + " 秒向服务器报告一次）", "live");
    schedule();
  });
  video.addEventListener("pause", () => {
    clearTimeout(timer);
    if (video.dataset.stoppedByServer) { delete video.dataset.stoppedByServer; return; }
    if (video.ended || !token) return;
    if (att.locked) status("验证码连续输入错误，暂停计时中", "paused");
    else if (att.nonce) status("请先完成验证：输入图中的字符后继续计时", "paused");
    else status("已暂停，暂停期间不计时", "paused");
    beat("pause");
  });
  video.addEventListener("seeking", () => {
    if (!token) { lastTime = video.currentTime; return; }
    beat("seek", { to: video.currentTime });
    lastTime = video.currentTime;
    if (!video.paused) schedule();
  });
  video.addEventListener("ended", () => {
    clearTimeout(timer);
    status("播放结束", "paused");
    beat("ended");
  });
  video.addEventListener("ratechange", () => {
    if (video.playbackRate !== 1) {
      video.playbackRate = 1;
      tell("倍速播放不计学习时长，已恢复为正常速度", "error");
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && !video.paused) {
      video.pause();
      tell("页面切换到后台时暂停播放，回到本页后请点击播放继续学习", "");
    }
  });
  window.addEventListener("pagehide", () => {
    if (token && socket && socket.connected) socket.emit("stop", { token });
  });

  function minutes(s) {
    return s < 60 ? s + " 秒" : Math.floor(s / 60) + " 分 " + String(s % 60).padStart(2, "0") + " 秒";
  }
  function clock(s) {
    s = Math.floor(s);
    return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }
})();

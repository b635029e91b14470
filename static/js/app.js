/* Shared page helpers: CSRF-aware fetch, captcha refresh, the first-login tour. */
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  /* POST JSON or FormData; resolves to {ok, status, data}; never throws on HTTP errors.
     options.keepalive: the request completes even if the page is left meanwhile. */
  async function api(url, body, options) {
    const isForm = body instanceof FormData;
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    if (!isForm) headers["Content-Type"] = "application/json";
    try {
      const res = await fetch(url, {
        method: "POST", headers, credentials: "same-origin",
        body: isForm ? body : JSON.stringify(body || {}),
        keepalive: Boolean(options && options.keepalive),
      });
      let data = {};
      try { data = await res.json(); } catch (e) { data = { message: "服务器返回了无法识别的内容" }; }
      return { ok: res.ok, status: res.status, data };
    } catch (e) {
      return { ok: false, status: 0, data: { message: "网络连接失败，请检查网络后重试" } };
    }
  }
  function say(el, text, kind) {
    if (!el) return;
    el.textContent = text || "";
    el.className = "form-msg " + (kind || "");
  }
  window.SafeCE = { api, say };

  const img = document.getElementById("captcha-img");
  if (img) {
    img.addEventListener("click", async () => {
      const res = await fetch("/captcha", { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      img.src = data.image;
      document.getElementById("captcha-id").value = data.id;
      const input = document.getElementById("captcha");
      input.value = "";
      input.focus();
    });
  }

  /* The guided tour (app/accounts/tour.py). Its dismissal is recorded with a keepalive
     request, and a page rendered before that landed asks for it again. */
  const recordTourDone = () => api("/api/tour/done", {}, { keepalive: true });
  if (document.getElementById("tour-unsaved")) recordTourDone();

  /* 记住我的登录信息: the ID number only (never the password), in this browser's
     localStorage, which is never sent to the server; unticking or 清除 removes it. */
  const remember = document.getElementById("remember-id");
  if (remember) {
    const KEY = "safece.login.id";
    const username = document.getElementById("username");
    const forget = document.getElementById("forget-id");
    const store = {
      get() { try { return localStorage.getItem(KEY); } catch (e) { return null; } },
      set(v) { try { localStorage.setItem(KEY, v); } catch (e) { /* storage off: nothing kept */ } },
      clear() { try { localStorage.removeItem(KEY); } catch (e) { /* nothing kept */ } },
    };
    const saved = store.get();
    if (saved) {
      if (!username.value) username.value = saved;
      remember.checked = true;
      forget.hidden = false;
      if (username.value === saved) document.getElementById("password").focus();
    }
    username.form.addEventListener("submit", () => {
      const id = username.value.trim().toUpperCase();
      if (remember.checked && /^\d{17}[\dX]$/.test(id)) store.set(id);
      else if (!remember.checked) store.clear();
    });
    forget.addEventListener("click", () => {
      store.clear();
      username.value = "";
      remember.checked = false;
      forget.hidden = true;
      say(document.getElementById("remember-msg"), "已清除本机保存的身份证号", "ok");
      username.focus();
    });
  }

  const tour = document.getElementById("tour");
  if (tour) {
    const steps = Array.from(tour.querySelectorAll(".tour-step")).filter(
      (s) => document.querySelector(s.dataset.target));
    let at = 0;
    const count = tour.querySelector(".tour-count");
    const next = tour.querySelector('[data-tour="next"]');
    function show() {
      document.querySelectorAll(".tour-highlight").forEach((e) => e.classList.remove("tour-highlight"));
      steps.forEach((s, i) => { s.hidden = i !== at; });
      const target = document.querySelector(steps[at].dataset.target);
      target.classList.add("tour-highlight");
      target.scrollIntoView({ block: "center", behavior: "smooth" });
      count.textContent = (at + 1) + " / " + steps.length;
      next.textContent = at === steps.length - 1 ? "开始使用" : "下一步";
    }
    function finish() {
      // The cookie first, at once: the next page honours it even if the learner goes on
      // before the request below has been answered.
      const secure = location.protocol === "https:" ? "; Secure" : "";
      document.cookie = tour.dataset.cookie + "=" + tour.dataset.user +
        "; path=/; max-age=31536000; SameSite=Lax" + secure;
      tour.remove();
      document.querySelectorAll(".tour-highlight").forEach((e) => e.classList.remove("tour-highlight"));
      recordTourDone();
    }
    next.addEventListener("click", () => { if (at < steps.length - 1) { at += 1; show(); } else finish(); });
    tour.querySelector('[data-tour="skip"]').addEventListener("click", finish);
    if (steps.length) { tour.hidden = false; show(); }
  }

  /* Fields with a length limit show it as they are typed in; a paste longer than the
     limit says what was kept (the browser would cut it silently). */
  const LIMITED = "input[maxlength]:not([type=hidden]):not([type=password]):not([type=search]), textarea[maxlength]";
  const counted = (field) => field.matches && field.matches(LIMITED) && field.maxLength >= 20;
  function count(field, note) {
    let out = field.nextElementSibling;
    if (!out || !out.classList.contains("char-count")) {
      out = document.createElement("span");
      out.className = "char-count";
      out.setAttribute("aria-live", "polite");
      field.insertAdjacentElement("afterend", out);
    }
    out.textContent = note || field.value.length + " / " + field.maxLength + " 字";
    out.classList.toggle("warn", Boolean(note));
  }
  document.querySelectorAll(LIMITED).forEach((field) => { if (counted(field)) count(field); });
  document.addEventListener("input", (event) => { if (counted(event.target)) count(event.target); });
  document.addEventListener("paste", (event) => {
    const field = event.target;
    if (!counted(field)) return;
    const pasted = (event.clipboardData && event.clipboardData.getData("text")) || "";
    const room = field.maxLength - field.value.length + (field.selectionEnd - field.selectionStart);
    if (pasted.length <= room) return;
    const kept = Math.max(0, room);
    setTimeout(() => count(field, "粘贴的内容有 " + pasted.length + " 字，本栏最多 " +
      field.maxLength + " 字，只保留了前 " + kept + " 字，请检查"), 0);
  });

  /* A plain form larger than the server takes is not sent: the page says so and keeps
     everything typed (the server would refuse it with 413 before reading it). */
  const formLimit = Number(document.querySelector('meta[name="form-limit"]').content) || 0;
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || !formLimit || (form.method || "").toLowerCase() !== "post" ||
        form.enctype === "multipart/form-data") return;
    const size = new Blob([new URLSearchParams(new FormData(form)).toString()]).size;
    if (size <= formLimit) return;
    event.preventDefault();
    let note = form.querySelector(".form-too-large");
    if (!note) {
      note = document.createElement("div");
      note.className = "alert error form-too-large";
      note.setAttribute("role", "alert");
      form.prepend(note);
    }
    note.textContent = "内容过长（约 " + Math.ceil(size / 1024) + " KB，上限 " +
      Math.floor(formLimit / 1024) + " KB），没有提交。请删减后再提交，您填写的内容都还在。";
    note.scrollIntoView({ block: "center" });
  });
  document.querySelectorAll("[data-back]").forEach((link) => {
    link.addEventListener("click", (event) => {
      if (history.length > 1) { event.preventDefault(); history.back(); }
    });
  });

  /* Forms that ask before they are sent: data-confirm="问题" (no inline handlers: CSP). */
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
})();

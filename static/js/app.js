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

  /* Forms that ask before they are sent: data-confirm="问题" (no inline handlers: CSP). */
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
})();

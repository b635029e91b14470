/* 我的资料: show/hide ID, phone binding by SMS code (the ID photo: photo.js). */
(function () {
  "use strict";
  const { api, say } = window.SafeCE;

  const idText = document.getElementById("id-text");
  const idToggle = document.getElementById("id-toggle");
  if (idToggle) {
    idToggle.addEventListener("click", () => {
      const showing = idText.textContent === idText.dataset.full;
      idText.textContent = showing ? idText.dataset.masked : idText.dataset.full;
      idToggle.textContent = showing ? "显示" : "隐藏";
    });
  }

  const phoneForm = document.getElementById("phone-form");
  if (phoneForm) {
    const msg = document.getElementById("phone-msg");
    const sendBtn = document.getElementById("send-code");
    const phone = document.getElementById("phone");
    function cooldown(seconds) {
      sendBtn.disabled = true;
      let left = seconds;
      sendBtn.textContent = left + " 秒后重新获取";
      const timer = setInterval(() => {
        left -= 1;
        if (left <= 0) { clearInterval(timer); sendBtn.disabled = false; sendBtn.textContent = "获取验证码"; }
        else sendBtn.textContent = left + " 秒后重新获取";
      }, 1000);
    }
    sendBtn.addEventListener("click", async () => {
      if (!/^1[3-9]\d{9}$/.test(phone.value.trim())) { say(msg, "请输入正确的11位手机号码", "error"); return; }
      const res = await api("/api/profile/phone/code", { phone: phone.value.trim() });
      say(msg, res.data.message, res.ok ? "ok" : "error");
      if (res.ok) cooldown(res.data.resend_after || Number(phoneForm.dataset.resend));
    });
    phoneForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const res = await api("/api/profile/phone/bind", {
        phone: phone.value.trim(), code: document.getElementById("sms-code").value.trim() });
      say(msg, res.data.message, res.ok ? "ok" : "error");
      if (res.ok) setTimeout(() => location.reload(), 600);
    });
  }
})();

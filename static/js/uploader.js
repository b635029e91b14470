/* Chunked, resumable uploads for videos and study materials.
 * Each .uploader element names what the file becomes (data-purpose, data-target); its
 * [data-field] inputs are sent when the upload is finished. The file goes up in chunks;
 * after a dropped connection the page keeps retrying from what the server holds, and
 * choosing the same file again after a reload continues where it stopped. */
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function json(method, url, body) {
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const res = await fetch(url, { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
      let data = {};
      try { data = await res.json(); } catch (e) { data = { message: "服务器返回了无法识别的内容" }; }
      return { ok: res.ok, status: res.status, data };
    } catch (e) {
      return { ok: false, status: 0, data: { message: "网络连接中断" } };
    }
  }

  function putChunk(url, blob, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, data });
      };
      xhr.onerror = () => resolve({ ok: false, status: 0, data: { message: "网络连接中断" } });
      xhr.send(blob);
    });
  }

  function setup(box) {
    const input = box.querySelector('input[type="file"]');
    const bar = box.querySelector(".upload-progress");
    const msg = box.querySelector(".upload-msg");
    const say = (text, kind) => { msg.textContent = text; msg.className = "upload-msg small " + (kind || ""); };
    const show = (done, total) => {
      bar.hidden = false;
      bar.max = total;
      bar.value = done;
      say(`已上传 ${(done / 1048576).toFixed(1)} / ${(total / 1048576).toFixed(1)} MB（${Math.floor(done * 100 / total)}%）`);
    };
    const fields = () => {
      const out = {};
      box.querySelectorAll("[data-field]").forEach((el) => { out[el.dataset.field] = el.value; });
      return out;
    };
    box.querySelectorAll("[data-error]").forEach((el) => { el.textContent = ""; });

    async function send(file) {
      input.disabled = true;
      box.classList.add("busy");
      const begun = await json("POST", "/admin/uploads", {
        purpose: box.dataset.purpose,
        target: JSON.parse(box.dataset.target || "{}"),
        name: file.name,
        size: file.size,
        fingerprint: `${file.name}|${file.size}|${file.lastModified}`,
      });
      if (!begun.ok) { fail(begun.data.message || "无法开始上传"); return; }
      const token = begun.data.token;
      const chunk = begun.data.chunk || 8388608;
      let received = begun.data.received;
      if (received > 0) say("从断点继续上传……");
      let wait = 1000;
      while (received < file.size) {
        const end = Math.min(file.size, received + chunk);
        const res = await putChunk(`/admin/uploads/${token}?offset=${received}`,
          file.slice(received, end), (loaded) => show(received + loaded, file.size));
        if (res.ok) { received = res.data.received; wait = 1000; show(received, file.size); continue; }
        if (res.status >= 400 && res.status < 500 && res.status !== 409) {
          fail(res.data.message || "上传失败"); return;
        }
        // Dropped connection or a chunk the server did not expect: ask where it stands.
        say(`网络中断或服务器繁忙，${Math.round(wait / 1000)} 秒后自动继续……`, "error");
        await sleep(wait);
        wait = Math.min(wait * 2, 30000);
        const state = await json("GET", `/admin/uploads/${token}`);
        if (state.ok) received = state.data.received;
        else if (state.status === 404) { fail(state.data.message); return; }
      }
      say("上传完成，正在检查文件……");
      await finish(token, false);
    }

    async function finish(token, confirm) {
      const done = await json("POST", `/admin/uploads/${token}/finish`, { ...fields(), confirm });
      if (done.ok) {
        say(done.data.message, "ok");
        window.location.assign(done.data.redirect);
        return;
      }
      if (done.data.code === "confirm") {
        if (window.confirm(done.data.message + "\n\n确定替换吗？")) { await finish(token, true); return; }
        await json("DELETE", `/admin/uploads/${token}`);
        fail("已取消替换，原视频保持不变。");
        return;
      }
      fail(done.data.message || "保存失败");
    }

    function fail(text) {
      say(text, "error");
      input.disabled = false;
      input.value = "";
      box.classList.remove("busy");
    }

    input.addEventListener("change", () => { if (input.files.length) send(input.files[0]); });
  }

  document.querySelectorAll(".uploader").forEach(setup);
})();

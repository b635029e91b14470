/* The one-time ID photo (我的资料, and the 个人基本信息 step of a registration application):
   the chosen picture is cropped to size in the page, then sent to /api/profile/photo. */
(function () {
  "use strict";
  const { api, say } = window.SafeCE;
  const tool = document.getElementById("photo-tool");
  if (!tool) return;
  const W = Number(tool.dataset.width), H = Number(tool.dataset.height), LIMIT = Number(tool.dataset.limit);
  const canvas = document.getElementById("crop-canvas");
  const ctx = canvas.getContext("2d");
  const zoom = document.getElementById("crop-zoom");
  const msg = document.getElementById("photo-msg");
  let image = null, base = 1, scale = 1, x = 0, y = 0;

  function clamp() {
    const w = image.width * scale, h = image.height * scale;
    x = Math.min(0, Math.max(W - w, x));
    y = Math.min(0, Math.max(H - h, y));
  }
  function draw() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    ctx.drawImage(image, x, y, image.width * scale, image.height * scale);
  }
  function setZoom(percent) {
    const cx = W / 2 - x, cy = H / 2 - y, old = scale;
    scale = base * percent / 100;
    x = W / 2 - cx * scale / old;
    y = H / 2 - cy * scale / old;
    clamp(); draw();
  }
  document.getElementById("photo-file").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    if (!/^image\/(jpeg|png)$/.test(file.type)) { say(msg, "仅支持 jpg、jpeg、png 格式的照片", "error"); return; }
    // Decoded straight from the file: no blob: URL, which the site's img-src does not allow.
    createImageBitmap(file).then((img) => {
      image = img;
      base = Math.max(W / img.width, H / img.height);
      scale = base; zoom.value = 100;
      x = (W - img.width * scale) / 2; y = (H - img.height * scale) / 2;
      document.getElementById("cropper").hidden = false;
      draw();
      say(msg, "原图 " + img.width + "×" + img.height + " 像素，将裁剪为 " + W + "×" + H + " 像素", "");
    }, () => say(msg, "无法读取该图片，请换一张 jpg 或 png 照片", "error"));
  });
  zoom.addEventListener("input", () => image && setZoom(Number(zoom.value)));
  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => { if (!image) return; drag = { px: ev.clientX, py: ev.clientY, x, y }; canvas.setPointerCapture(ev.pointerId); });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const ratio = W / canvas.getBoundingClientRect().width;
    x = drag.x + (ev.clientX - drag.px) * ratio; y = drag.y + (ev.clientY - drag.py) * ratio;
    clamp(); draw();
  });
  canvas.addEventListener("pointerup", () => { drag = null; });

  function toBlob(quality) {
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }
  // Shown in place of the tool, without reloading: the 个人基本信息 form beside it keeps
  // whatever the applicant has typed and not yet saved.
  function showUploaded() {
    const figure = document.createElement("figure");
    figure.className = "photo-frame";
    figure.id = "photo-done";
    const img = document.createElement("img");
    img.id = "my-photo";
    img.alt = "我的证件照";
    img.width = W; img.height = H;
    img.src = tool.dataset.photoUrl + "?v=" + Date.now();
    const caption = document.createElement("figcaption");
    caption.textContent = "照片上传成功。如需更换请联系管理员。";
    figure.append(img, caption);
    // The hints that asked for a photo go with the tool.
    tool.parentElement.querySelectorAll("[data-photo-hint]").forEach((el) => el.remove());
    tool.replaceWith(figure);
  }
  document.getElementById("photo-upload").addEventListener("click", async () => {
    if (!image) { say(msg, "请先选择照片", "error"); return; }
    let blob = null;
    for (const q of [0.92, 0.85, 0.75, 0.6, 0.45]) {
      blob = await toBlob(q);
      if (blob.size < LIMIT) break;
    }
    const form = new FormData();
    form.append("photo", blob, "photo.jpg");
    const button = document.getElementById("photo-upload");
    button.disabled = true;
    const res = await api("/api/profile/photo", form);
    say(msg, res.data.message, res.ok ? "ok" : "error");
    if (res.ok) showUploaded(); else button.disabled = false;
  });
})();

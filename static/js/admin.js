/* Administration pages: confirm before an action, and show that an import is running.
   No inline handlers anywhere (the Content-Security-Policy allows scripts from files only):
   behaviour hangs on data- attributes here. */
(function () {
  "use strict";
  // <button data-close-details> folds the <details> it sits in (e.g. 撤销 … 取消).
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-close-details]");
    if (button) button.closest("details").open = false;
  });
  document.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;  // e.g. refused as too large (app.js)
    const form = event.target;
    const button = event.submitter;
    // A form's own data-confirm is asked by app.js (every page); here only a button's, so
    // that nobody is asked the same question twice.
    const question = button && button.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    const busy = form.querySelector("[data-busy]");
    if (busy) {
      // Disable after the browser has taken the form data, so the upload still goes.
      setTimeout(() => { busy.disabled = true; busy.textContent = busy.dataset.busy; }, 0);
    }
  });
})();

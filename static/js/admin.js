/* Administration pages: confirm before an action, and show that an import is running. */
(function () {
  "use strict";
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    const question = (button && button.dataset.confirm) || form.dataset.confirm;
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

/* Administration forms: 学时 presets on the batch form, the paper total on the policy form. */
(function () {
  "use strict";
  const presets = document.getElementById("tier-presets");
  if (presets) {
    presets.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-total]");
      if (!button) return;
      document.getElementById("f-required_minutes").value = button.dataset.total;
      document.getElementById("f-required_public_minutes").value = button.dataset.public;
    });
  }
  const policy = document.getElementById("policy-form");
  const total = document.getElementById("policy-total");
  if (policy && total) {
    const num = (name) => parseFloat(policy.elements[name].value) || 0;
    const update = () => {
      const sum = num("single_count") * num("single_points") + num("multiple_count") * num("multiple_points")
        + num("judge_count") * num("judge_points");
      const count = num("single_count") + num("multiple_count") + num("judge_count");
      total.textContent = `试卷共 ${count} 题，总分 ${Math.round(sum * 100) / 100} 分，${num("pass_mark")} 分及以上合格。`;
    };
    policy.addEventListener("input", update);
    update();
  }
})();

// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // The team switcher submits on change; its button stays for no-JS browsers.
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });
  document.querySelectorAll("[data-hide-with-js]").forEach((el) => el.classList.add("visually-hidden"));

  // On narrow screens the sidebar folds behind a button.
  const toggle = document.querySelector("[data-toggle-sidebar]");
  const sidebar = document.getElementById("sidebar");
  if (toggle && sidebar) {
    toggle.addEventListener("click", () => {
      const open = sidebar.classList.toggle("is-open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
});

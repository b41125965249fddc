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

// Dataset upload: drag-and-drop onto the zone, a size check before sending, and a progress bar.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const bar = document.getElementById("upload-progress");
  const text = document.getElementById("upload-progress-text");
  const result = document.getElementById("upload-result");
  const maxMb = Number(form.dataset.maxMb || 0);

  const send = () => {
    const file = input.files[0];
    if (!file) return;
    if (maxMb && file.size > maxMb * 1024 * 1024) {
      result.innerHTML = "";
      const p = document.createElement("p");
      p.className = "message message-error";
      p.setAttribute("role", "alert");
      p.textContent = `${file.name} is ${(file.size / 1048576).toFixed(0)} MB; the limit is ${maxMb} MB. Remove columns you don't need or split it, then upload again.`;
      result.appendChild(p);
      input.value = "";
      return;
    }
    result.innerHTML = "";
    bar.hidden = false;
    bar.value = 0;
    text.textContent = `Uploading ${file.name}…`;
    htmx.trigger(form, "submit");
  };
  input.addEventListener("change", send);
  form.addEventListener("htmx:xhr:progress", (event) => {
    if (event.detail.lengthComputable) {
      const pct = Math.round((event.detail.loaded / event.detail.total) * 100);
      bar.value = pct;
      text.textContent = pct < 100 ? `Uploading… ${pct}%` : "Uploaded. Starting the analysis…";
    }
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    if (!event.detail.successful) { bar.hidden = true; text.textContent = ""; }
  });
  ["dragenter", "dragover"].forEach((name) => form.addEventListener(name, (event) => {
    event.preventDefault();
    form.classList.add("is-dragging");
  }));
  ["dragleave", "drop"].forEach((name) => form.addEventListener(name, () => form.classList.remove("is-dragging")));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      send();
    }
  });
});

// The agent's conversation shows its newest messages; older ones are a scroll up.
const scrollAgentLog = () => document.querySelectorAll(".agent-log").forEach((log) => { log.scrollTop = log.scrollHeight; });
document.addEventListener("DOMContentLoaded", scrollAgentLog);
document.addEventListener("htmx:afterSettle", scrollAgentLog);

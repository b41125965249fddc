// The endpoint page: copy buttons, and the test console, which streams the answer as it comes.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch {
        window.getSelection().selectAllChildren(source);
        button.textContent = "Press Ctrl+C";
      }
    });
  });

  const form = document.getElementById("test-console");
  if (!form) return;
  const output = document.getElementById("console-output");
  const meta = document.getElementById("console-meta");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    output.textContent = "";
    meta.textContent = "";
    const started = performance.now();
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
        },
        body: JSON.stringify({
          model: form.dataset.model,
          messages: [{ role: "user", content: form.querySelector("[name=prompt]").value }],
          max_tokens: Number(form.querySelector("[name=max_tokens]").value),
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        output.textContent = (body.error && body.error.message) || `The request failed (${response.status}).`;
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let usage = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const events = buffer.split("\n\n");
        buffer = events.pop();
        for (const event of events) {
          const data = event.replace(/^data: /, "").trim();
          if (!data || data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) {
            output.textContent += `\n[${chunk.error.message}]`;
            continue;
          }
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) output.textContent += delta.content;
          if (chunk.usage) usage = chunk.usage;
        }
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      meta.textContent = usage
        ? `${usage.prompt_tokens} tokens in, ${usage.completion_tokens} out, ${seconds} s`
        : `${seconds} s`;
    } catch (error) {
      output.textContent = `The request failed: ${error}`;
    } finally {
      button.disabled = false;
    }
  });
});

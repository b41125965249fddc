// The live loss curve of a run: history from the socket's first message, then points as they come.
// Points are keyed by step, so a point received twice (history + live) is drawn once.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.getElementById("run-chart");
  if (!el || typeof uPlot === "undefined") return;
  const points = new Map();
  const summary = document.getElementById("run-live-summary");
  const plot = new uPlot({
    width: el.clientWidth || 600,
    height: 260,
    series: [
      { label: "step" },
      { label: "train loss", stroke: "#3B82F6", width: 2 },
      { label: "eval loss", stroke: "#8B5CF6", width: 2, points: { show: true, size: 6 } },
    ],
    axes: [{ label: "Steps →" }, { label: "Loss" }],
    scales: { x: { time: false } },
  }, [[], [], []], el);

  const draw = () => {
    const steps = [...points.keys()].sort((a, b) => a - b);
    plot.setData([steps, steps.map((s) => points.get(s).loss ?? null), steps.map((s) => points.get(s).eval_loss ?? null)]);
    const last = points.get(steps[steps.length - 1]);
    if (last && summary) {
      const loss = last.loss !== undefined ? `loss ${last.loss.toFixed(4)}` : "";
      summary.textContent = `Step ${last.step}/${last.total_steps} · ${loss} · ${Math.round(last.tokens_per_s || 0)} tokens/s`;
    }
  };
  const upsert = (p) => points.set(p.step, { ...(points.get(p.step) || {}), ...p });
  // The server renders the parts of the page that say the run's state (the header's badge);
  // each replaces the element with its id, so the page follows the state without a reload.
  const swapFragments = (html) => {
    if (!html) return;
    const template = document.createElement("template");
    template.innerHTML = html;
    [...template.content.children].forEach((fragment) => {
      const current = fragment.id && document.getElementById(fragment.id);
      if (current) current.replaceWith(fragment);
    });
  };

  const connect = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${el.dataset.ws}`);
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "history") { message.points.forEach(upsert); draw(); swapFragments(message.html); }
      else if (message.type === "metrics") { upsert(message.point); draw(); }
      else if (message.type === "status") { swapFragments(message.html); htmx.trigger("#run-progress", "refresh"); }
    };
    // After a drop the server resends the whole history, so the curve never has a gap.
    ws.onclose = (event) => { if (event.code !== 4404) setTimeout(connect, 2000); };
  };
  connect();
  window.addEventListener("resize", () => plot.setSize({ width: el.clientWidth, height: 260 }));
});

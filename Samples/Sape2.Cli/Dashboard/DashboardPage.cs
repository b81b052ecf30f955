namespace Sape2.Cli.Dashboard;

/// <summary>
/// The dashboard's one page: plain HTML, CSS and script with inline SVG charts, nothing fetched from outside 127.0.0.1. It reads
/// <c>/study.json</c> every two seconds and draws the leaderboard, each trial's learning curve, ASHA's decisions and the knobs' importance.
/// </summary>
internal static class DashboardPage
{
    public const string Html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>sape2 study</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
          table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
          tr.best { background: #e6f4e6; } .Pruned { color: #888; } .Failed { color: #b00; } .Running { color: #06c; }
          section { margin-bottom: 1.5em; } svg { border: 1px solid #ccc; background: #fff; } #error { color: #b00; }
          .bar { display: inline-block; height: 10px; background: #4a7; vertical-align: middle; }
        </style></head>
        <body>
        <h1>Study <span id="study"></span></h1>
        <p id="summary">loading…</p><p id="error"></p>
        <section><h2>Leaderboard</h2>
          <table><thead><tr><th>trial</th><th>status</th><th id="metric-name">metric</th><th>epochs</th><th>seconds</th><th>worker</th>
          <th>parameters</th><th>note</th></tr></thead><tbody id="leaderboard"></tbody></table></section>
        <section><h2>Learning curves</h2><p>validation metric per epoch; the best trial green, pruned ones grey</p>
          <svg id="curves" width="720" height="300" viewBox="0 0 720 300"></svg></section>
        <section><h2>ASHA's decisions</h2><table><thead><tr><th>rung (epoch)</th><th>trials recorded</th><th>best loss</th>
          <th>stopped there</th></tr></thead><tbody id="rungs"></tbody></table><ul id="decisions"></ul></section>
        <section><h2>Parameter importance</h2><p>share of the metric's variance between the trials grouped by each knob's value (one knob at a
          time; a rough guide)</p><table><tbody id="importance"></tbody></table></section>
        <script>
        "use strict";
        const text = (v) => v === null || v === undefined ? "" : String(v);
        const cell = (row, v) => { const td = document.createElement("td"); td.textContent = text(v); row.appendChild(td); return td; };
        function better(metric) { return metric === "LogLoss" ? (a, b) => a - b : (a, b) => b - a; }
        function draw(study) {
          document.getElementById("study").textContent = study.study + " (" + study.source + ")";
          const counts = {};
          for (const t of study.trials) counts[t.status] = (counts[t.status] || 0) + 1;
          document.getElementById("summary").textContent = Math.round(study.seconds) + " s since it started; " +
            Object.entries(counts).map(([s, n]) => n + " " + s.toLowerCase()).join(", ");
          document.getElementById("metric-name").textContent = study.metric;
          const order = better(study.metric);
          const trials = [...study.trials].sort((a, b) => (a.metric === null) - (b.metric === null) || order(a.metric, b.metric) || a.id - b.id);
          const board = document.getElementById("leaderboard");
          board.replaceChildren();
          for (const t of trials) {
            const row = document.createElement("tr");
            row.dataset.trial = t.id; row.dataset.status = t.status; row.className = t.status + (t.id === study.bestTrial ? " best" : "");
            cell(row, t.id); cell(row, t.status); cell(row, t.metric === null ? "" : t.metric.toFixed(4));
            cell(row, t.epochs + " / " + t.plannedEpochs); cell(row, t.seconds.toFixed(0)); cell(row, t.worker);
            cell(row, Object.entries(t.parameters).map(([k, v]) => k + "=" + v).join(", ")); cell(row, t.reason);
            board.appendChild(row);
          }
          drawCurves(study);
          drawRungs(study);
          const importance = document.getElementById("importance");
          importance.replaceChildren();
          for (const i of study.importance) {
            const row = document.createElement("tr");
            cell(row, i.knob);
            const bar = cell(row, " " + (100 * i.share).toFixed(0) + "%");
            const span = document.createElement("span"); span.className = "bar"; span.style.width = Math.round(200 * i.share) + "px";
            bar.prepend(span);
            importance.appendChild(row);
          }
        }
        function drawCurves(study) {
          const svg = document.getElementById("curves"), ns = "http://www.w3.org/2000/svg";
          svg.replaceChildren();
          const points = study.trials.flatMap(t => t.curve.filter(c => c.metric !== null));
          if (points.length === 0) return;
          const maxEpoch = Math.max(...points.map(p => p.epoch), 2);
          let low = Math.min(...points.map(p => p.metric)), high = Math.max(...points.map(p => p.metric));
          if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
          const x = (e) => 40 + (e - 1) / (maxEpoch - 1) * 660, y = (m) => 280 - (m - low) / (high - low) * 260;
          for (const [value, at] of [[high, 20], [low, 280]]) {
            const label = document.createElementNS(ns, "text");
            label.setAttribute("x", 2); label.setAttribute("y", at); label.setAttribute("font-size", "11"); label.textContent = value.toFixed(3);
            svg.appendChild(label);
          }
          for (const t of study.trials) {
            const curve = t.curve.filter(c => c.metric !== null);
            if (curve.length === 0) continue;
            const line = document.createElementNS(ns, "polyline");
            line.setAttribute("points", curve.map(c => x(c.epoch) + "," + y(c.metric)).join(" "));
            line.setAttribute("fill", "none");
            line.setAttribute("stroke", t.id === study.bestTrial ? "#2a2" : t.status === "Pruned" ? "#bbb" : "#37c");
            line.setAttribute("stroke-width", t.id === study.bestTrial ? 3 : 1.5);
            line.dataset.trial = t.id;
            const title = document.createElementNS(ns, "title"); title.textContent = "trial " + t.id; line.appendChild(title);
            svg.appendChild(line);
          }
        }
        function drawRungs(study) {
          const body = document.getElementById("rungs"), decisions = document.getElementById("decisions");
          body.replaceChildren(); decisions.replaceChildren();
          const byRung = {};
          for (const r of study.rungs) (byRung[r.rung] = byRung[r.rung] || []).push(r);
          for (const [rung, rows] of Object.entries(byRung)) {
            const row = document.createElement("tr");
            const stopped = study.trials.filter(t => t.status === "Pruned" && text(t.reason).startsWith("rung " + rung + ":")).map(t => t.id);
            cell(row, rung); cell(row, rows.length); cell(row, Math.min(...rows.map(r => r.loss)).toFixed(4));
            cell(row, stopped.length ? "trials " + stopped.join(", ") : "none");
            body.appendChild(row);
          }
          for (const t of study.trials.filter(t => t.status === "Pruned")) {
            const item = document.createElement("li"); item.textContent = "trial " + t.id + ": " + text(t.reason); decisions.appendChild(item);
          }
        }
        async function refresh() {
          try {
            const response = await fetch("study.json", { cache: "no-store" });
            const body = await response.json();
            if (!response.ok) throw new Error(body.error || response.statusText);
            document.getElementById("error").textContent = "";
            draw(body);
          } catch (e) {
            document.getElementById("error").textContent = "The store could not be read: " + e.message + " (trying again)";
          }
        }
        refresh();
        setInterval(refresh, 2000);
        </script>
        </body></html>
        """;
}

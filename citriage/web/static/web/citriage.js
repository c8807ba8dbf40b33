// citriage pages: plots, match context, the log viewer, the pattern workbench.
// Log and pattern text only ever goes into the page through textContent.
"use strict";

(function () {
  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return cookie ? cookie.split("=")[1] : "";
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    };
    const response = await fetch("/api" + path, { credentials: "same-origin", ...options });
    const data = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) {
      const error = new Error(data.detail || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // A line with its matched spans wrapped in <mark>.
  function markedText(text, spans) {
    const node = el("span", { class: "text" });
    let at = 0;
    for (const span of [...(spans || [])].sort((a, b) => a.start - b.start)) {
      if (span.start < at) continue;
      node.append(text.slice(at, span.start), el("mark", {}, text.slice(span.start, span.end)));
      at = span.end;
    }
    node.append(text.slice(at));
    return node;
  }

  // -- plots ----------------------------------------------------------------------
  function renderPlots() {
    if (!window.Plotly) return;
    for (const div of document.querySelectorAll(".plot[data-figure]")) {
      const source = document.getElementById(div.dataset.figure);
      if (!source) continue;
      const figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(div, figure.data, figure.layout, { displayModeBar: false, responsive: true });
      div.dataset.rendered = "1";
    }
  }

  // -- match context (expandable excerpts) ---------------------------------------------
  function setupContext() {
    for (const details of document.querySelectorAll("details.context")) {
      details.addEventListener("toggle", async () => {
        if (!details.open || details.dataset.loaded) return;
        details.dataset.loaded = "1";
        const line = Number(details.dataset.line);
        const start = Math.max(1, line - 3);
        const pre = details.querySelector("pre");
        try {
          const data = await api(`/logs/${details.dataset.log}/lines?start=${start}&count=7`);
          pre.textContent = "";
          data.lines.forEach((text, i) => {
            const number = data.start + i;
            const row = el("span", { class: number === line ? "line match" : "line" },
              el("span", { class: "no" }, String(number)), markedText(text, data.matches[number]));
            pre.append(row, "\n");
          });
        } catch (error) {
          pre.textContent = "Could not load the context: " + error.message;
        }
      });
    }
  }

  // -- log viewer: renders only the lines in view, fetched in chunks ----------------------
  const LINE_HEIGHT = 18;
  const CHUNK = 500;
  const MAX_SPACER = 15000000; // px; browsers cap element heights near 2^25

  function setupLogViewer() {
    const view = document.getElementById("logview");
    if (!view) return;
    const logId = view.dataset.log;
    const lines = Number(view.dataset.lines);
    const spacer = view.querySelector(".logview-spacer");
    const list = view.querySelector(".logview-window");
    const total = lines * LINE_HEIGHT;
    const height = Math.min(total, MAX_SPACER);
    spacer.style.height = height + "px";
    const chunks = new Map();
    let target = null;

    function visibleCount() {
      return Math.ceil(view.clientHeight / LINE_HEIGHT) + 1;
    }

    function firstLineAt(scrollTop) {
      if (total <= MAX_SPACER) return Math.floor(scrollTop / LINE_HEIGHT) + 1;
      const room = Math.max(1, height - view.clientHeight);
      return Math.round((scrollTop / room) * Math.max(0, lines - visibleCount())) + 1;
    }

    function scrollTopFor(line) {
      if (total <= MAX_SPACER) return (line - 1) * LINE_HEIGHT;
      const room = Math.max(1, height - view.clientHeight);
      return ((line - 1) / Math.max(1, lines - visibleCount())) * room;
    }

    function chunk(index) {
      if (!chunks.has(index)) {
        chunks.set(index, api(`/logs/${logId}/lines?start=${index * CHUNK + 1}&count=${CHUNK}`)
          .catch((error) => { chunks.delete(index); throw error; }));
      }
      return chunks.get(index);
    }

    function lineItem(number, text, spans) {
      const anchor = el("a", { class: "no", href: `#L${number}` }, String(number));
      const item = el("li", { "data-line": String(number), id: `L${number}` }, anchor, markedText(text, spans));
      if (spans) item.classList.add("has-match");
      if (number === target) item.classList.add("target");
      const url = `${view.dataset.workbench}&expression=${encodeURIComponent(text.trim())}&regex=0`;
      item.append(el("a", { class: "new-pattern", href: url, title: "new pattern from this line" }, "new pattern"));
      return item;
    }

    let drawing = 0;
    async function draw() {
      const ticket = ++drawing;
      const first = Math.max(1, firstLineAt(view.scrollTop) - 10);
      const last = Math.min(lines, first + visibleCount() + 20);
      const needed = [];
      for (let c = Math.floor((first - 1) / CHUNK); c <= Math.floor((last - 1) / CHUNK); c++) needed.push(c);
      let loaded;
      try {
        loaded = await Promise.all(needed.map(chunk));
      } catch (error) {
        list.replaceChildren(el("li", { class: "error" }, "Could not load the log: " + error.message));
        return;
      }
      if (ticket !== drawing) return; // the reader scrolled on meanwhile
      const items = [];
      for (const data of loaded) {
        data.lines.forEach((text, i) => {
          const number = data.start + i;
          if (number >= first && number <= last) items.push(lineItem(number, text, data.matches[number]));
        });
      }
      const offset = total <= MAX_SPACER ? (first - 1) * LINE_HEIGHT : view.scrollTop - 10 * LINE_HEIGHT;
      list.style.transform = `translateY(${Math.max(0, offset)}px)`;
      list.replaceChildren(...items);
      view.dataset.first = String(first);
    }

    function jumpTo(line) {
      target = Math.min(Math.max(1, line), lines);
      view.scrollTop = Math.max(0, scrollTopFor(target) - view.clientHeight / 3);
      draw();
    }

    function fromHash() {
      const found = /^#L(\d+)$/.exec(location.hash);
      if (found) jumpTo(Number(found[1]));
    }

    // "next match" / "next failure line" (n, f; shift goes back), wrapping around.
    const where = document.getElementById("logview-at");
    function lineList(value) {
      return (value || "").split(",").filter(Boolean).map(Number);
    }
    const stops = { match: lineList(view.dataset.matches), "failure line": lineList(view.dataset.failures) };
    function step(what, forward) {
      const lines = stops[what];
      if (!lines.length) return;
      const at = target || 0;
      let index = forward ? lines.findIndex((n) => n > at) : lines.findLastIndex((n) => n < at);
      if (index < 0) index = forward ? 0 : lines.length - 1;
      history.replaceState(null, "", `#L${lines[index]}`);
      jumpTo(lines[index]);
      where.textContent = `${what} ${index + 1} of ${lines.length}: line ${lines[index]}`;
      view.dataset.at = String(lines[index]);
    }
    document.getElementById("next-match").addEventListener("click", () => step("match", true));
    document.getElementById("next-failure").addEventListener("click", () => step("failure line", true));
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.closest("input, textarea, select, [contenteditable]")) return;
      const what = { n: "match", f: "failure line" }[event.key.toLowerCase()];
      if (!what) return;
      event.preventDefault();
      step(what, event.key === event.key.toLowerCase());
    });

    view.addEventListener("scroll", () => requestAnimationFrame(draw));
    window.addEventListener("hashchange", fromHash);
    const start = Number(view.dataset.start || 0);
    if (/^#L\d+$/.test(location.hash)) {
      fromHash();
      view.scrollIntoView({ block: "start" });
    } else if (start > 0) {
      jumpTo(start); // the best match, or the likeliest failure line, highlighted
    } else {
      draw();
    }
  }

  // -- pattern workbench ------------------------------------------------------------------
  function candidateFrom(form) {
    const value = (name) => form.elements[name] ? form.elements[name].value : "";
    const fromEnd = value("lines_from_end");
    return {
      expression: value("expression"),
      is_regex: form.elements.is_regex ? form.elements.is_regex.checked : false,
      applicable_steps: value("applicable_steps").split("\n").map((s) => s.trim()).filter(Boolean),
      lines_from_end: fromEnd === "" ? null : Number(fromEnd),
      specificity: Number(value("specificity") || 1),
    };
  }

  function setupWorkbench() {
    const form = document.getElementById("pattern-form");
    if (!form || form.dataset.canWrite !== "1") return; // trying costs CPU: writers only
    const logSelect = document.getElementById("try-log");
    const status = document.getElementById("try-status");
    const results = document.getElementById("try-results");
    let timer = null;
    let ticket = 0;

    async function tryIt() {
      const candidate = candidateFrom(form);
      const mine = ++ticket;
      results.replaceChildren();
      if (!candidate.expression) { status.textContent = "Type an expression to see its matches."; return; }
      if (!logSelect.value) { status.textContent = "No stored log to try it on."; return; }
      status.textContent = "Searching…";
      try {
        const data = await api("/workbench/try", { ...candidate, log_id: Number(logSelect.value) });
        if (mine !== ticket) return;
        status.textContent = data.timed_out ? `It ${data.timed_out}: saved, it would be retired.`
          : data.total === 0 ? "No match in this log."
          : `${data.total} matching line${data.total === 1 ? "" : "s"}` + (data.total > data.matches.length ? ` (first ${data.matches.length} shown)` : "");
        status.dataset.total = String(data.total);
        for (const m of data.matches) {
          results.append(el("li", { value: String(m.line) },
            el("span", { class: "no" }, String(m.line)), markedText(m.text, [m])));
        }
      } catch (error) {
        if (mine !== ticket) return;
        status.textContent = error.message;
        status.dataset.total = "";
        if (error.status === 429) { clearTimeout(timer); timer = setTimeout(tryIt, 1000); }
      }
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(tryIt, 250);
    }

    form.addEventListener("input", later);
    logSelect.addEventListener("change", tryIt);

    const backtestButton = document.getElementById("backtest");
    const backtestStatus = document.getElementById("backtest-status");
    const table = document.getElementById("backtest-results");
    async function backtest() {
      const candidate = candidateFrom(form);
      if (!candidate.expression) { backtestStatus.textContent = "Type an expression first."; return; }
      backtestStatus.textContent = "Scanning stored logs…";
      delete backtestStatus.dataset.matched;
      backtestButton.disabled = true;
      try {
        // A worker runs the backtest; the page asks how it is going until it is done.
        const queued = await api("/workbench/backtest", candidate);
        let state = queued;
        while (state.status === "ready" || state.status === "running") {
          backtestStatus.textContent = state.status === "ready"
            ? "Waiting for a worker…" : "Scanning stored logs…";
          await new Promise((done) => setTimeout(done, 500));
          state = await api(`/workbench/backtest/${queued.id}`);
        }
        if (state.status !== "successful") throw new Error(`The backtest failed: ${state.error}`);
        const data = state.result;
        const parts = [
          `Matches ${data.failed_jobs_matched} failed job${data.failed_jobs_matched === 1 ? "" : "s"}`,
          `would become the best match of ${data.best_match_changes}`,
          `scanned ${data.logs_scanned} of ${data.logs_total} newest stored logs` + (data.complete ? "" : " (time limit reached)"),
        ];
        if (data.passing_logs_scanned) {
          parts.push(`hits ${data.passing_logs_matched} of ${data.passing_logs_scanned} logs of passing jobs`);
        }
        if (data.timed_out_logs) {
          parts.push(`ran out of time on ${data.timed_out_logs} log${data.timed_out_logs === 1 ? "" : "s"}: saved, it would be retired`);
        }
        backtestStatus.textContent = parts.join("; ") + ".";
        backtestStatus.dataset.matched = String(data.failed_jobs_matched);
        backtestStatus.classList.toggle("warning", data.passing_logs_matched > 0);
        const body = table.querySelector("tbody");
        body.replaceChildren(...data.jobs.map((job) => el("tr", {},
          el("td", {}, el("a", { href: `/jobs/${job.job_id}/#L${job.line}` }, job.name)),
          el("td", {}, el("code", {}, job.sha.slice(0, 10))),
          el("td", {}, job.branch),
          el("td", {}, el("code", {}, `${job.line}: ${job.text}`)),
          el("td", {}, job.current_pattern ? `#${job.current_pattern}` : "none"),
          el("td", {}, job.becomes_best ? "yes" : "no"))));
        table.hidden = data.jobs.length === 0;
      } catch (error) {
        backtestStatus.textContent = error.message;
      } finally {
        backtestButton.disabled = false;
      }
    }
    backtestButton.addEventListener("click", backtest);

    if (form.elements.expression.value) {
      tryIt();
      if (new URLSearchParams(location.search).has("expression")) backtest();
    }
  }

  // -- retroactive scan progress on a pattern's page ------------------------------------------
  function setupProgress() {
    const progress = document.getElementById("progress");
    if (!progress) return;
    async function poll() {
      try {
        const response = await fetch(progress.dataset.url, { credentials: "same-origin" });
        const data = await response.json();
        progress.textContent = `${data.scanned} of ${data.total} stored logs; ${data.matches} matches so far`;
        progress.dataset.scanned = String(data.scanned);
        if (data.scanned < data.total) setTimeout(poll, 2000);
        else if (Number(progress.dataset.reload || 0) === 0 && data.matches > 0 && !document.querySelector("table.matches td:not(.muted)")) {
          progress.dataset.reload = "1";
          location.reload(); // the scan finished while we watched: show the new matches
        }
      } catch (error) {
        progress.textContent += " (progress unavailable: " + error.message + ")";
      }
    }
    if (Number(progress.dataset.scanned) < Number(progress.dataset.total)) setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    renderPlots();
    setupContext();
    setupLogViewer();
    setupWorkbench();
    setupProgress();
  });
})();

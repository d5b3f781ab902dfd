// nemorun ui: the page. Three views by the URL's #fragment: the run list (#/), a run
// (#/run/ID), a comparison (#/compare/ID,ID). Every text from a record is put in with
// textContent or escaped first; the only HTML taken as is is the server's own SVG plots.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const FINAL = new Set(["completed", "failed", "cancelled"]);
const view = () => document.getElementById("view");
let timer = null; // the current view's polling; cleared when the view changes
let generation = 0; // which view is current: an answer for an older one schedules nothing

async function ask(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of [].concat(value)) query.append(key, one);
  }
  if (TOKEN) query.set("token", TOKEN);
  const answer = await fetch(`${path}?${query}`);
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function state(name) {
  return el("span", { class: `state state-${name}`, text: name });
}

function table(columns, rows, cell, attrs = {}) {
  const head = el("tr", {}, ...columns.map((c) => el("th", { text: c })));
  const body = el("tbody", {}, ...rows.map((r) => el("tr", {}, ...columns.map((c) => cell(r, c)))));
  return el("table", attrs, el("thead", {}, head), body);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// A small highlighter for YAML, TOML, JSON and shell: keys, strings, numbers, booleans,
// comments and ${...} interpolations become spans with the hl-* classes of style.css.
const KEY = /^(\s*(?:-\s+)?)([A-Za-z_$][\w.$/-]*|"[^"]*"|'[^']*')(\s*[:=])(?=\s|$)/;
const TOKENS = /(\s#.*$|^#.*$)|("(?:[^"\\]|\\.)*"|'[^']*')|(\$\{[^}]*\})|\b(true|false|null|True|False|None)\b|((?<![\w./-])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w./-]))/g;
const KINDS = ["hl-c", "hl-s", "hl-i", "hl-b", "hl-n"];

function highlightLine(line) {
  let out = "";
  const key = KEY.exec(line);
  if (key) {
    out = `${escapeHtml(key[1])}<span class="hl-k">${escapeHtml(key[2])}</span>${escapeHtml(key[3])}`;
    line = line.slice(key[0].length);
  }
  let last = 0;
  for (const match of line.matchAll(TOKENS)) {
    const kind = KINDS[match.slice(1).findIndex((g) => g !== undefined)];
    out += escapeHtml(line.slice(last, match.index));
    out += `<span class="${kind}">${escapeHtml(match[0])}</span>`;
    last = match.index + match[0].length;
  }
  return out + escapeHtml(line.slice(last));
}

function code(text, cls = "code") {
  const pre = el("pre", { class: cls });
  pre.innerHTML = text.split("\n").map(highlightLine).join("\n");
  return pre;
}

function show(...nodes) {
  view().replaceChildren(...nodes);
}

function failure(error) {
  return el("p", { class: "error", text: String(error.message || error) });
}

// ---- the run list ----
async function listView() {
  const mine = generation;
  const search = el("input", { type: "search", id: "search", placeholder: "search id, name, target" });
  const status = el("select", { id: "status" },
    ...["", "pending", "running", "completed", "failed", "cancelled", "unknown"].map(
      (s) => el("option", { value: s, text: s || "any status" })));
  const compare = el("button", { id: "compare", type: "button", text: "Compare selected" });
  const count = el("span", { class: "note", id: "count" });
  const more = el("button", { id: "more", type: "button", text: "older runs" });
  more.hidden = true;
  const notes = el("div", { id: "warnings" });
  const holder = el("div", { id: "table" });
  show(el("div", { class: "toolbar" }, search, status, compare, count, more), notes, holder);
  let limit = 200; // the newest runs first, as `nemorun ls` shows a screenful; "older runs" adds
  const chosen = new Set();
  let runs = [];
  let shownBody = "";
  const render = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = runs.filter((r) => (!status.value || r.status === status.value) &&
      words.every((w) => `${r.id} ${r.name} ${r.target}`.toLowerCase().includes(w)));
    count.textContent = `${shown.length} of ${more.hidden ? "" : "the newest "}${runs.length} runs`;
    holder.replaceChildren(table(["", "id", "name", "target", "created", "status"], shown, (r, c) => {
      if (c === "") {
        const box = el("input", { type: "checkbox", class: "pick", "data-id": r.id });
        box.checked = chosen.has(r.id);
        box.addEventListener("change", () => (box.checked ? chosen.add(r.id) : chosen.delete(r.id)));
        return el("td", {}, box);
      }
      if (c === "id") return el("td", { class: "mono" }, el("a", { href: `#/run/${r.id}`, text: r.id }));
      if (c === "status") return el("td", {}, state(r.status));
      return el("td", { class: c === "created" ? "mono" : null, text: r[c] });
    }, { id: "runs" }));
  };
  search.addEventListener("input", render);
  status.addEventListener("change", render);
  compare.addEventListener("click", () => {
    // oldest first (ids sort by time), so a diff reads from the earlier run to the later
    if (chosen.size >= 2) location.hash = `#/compare/${[...chosen].sort().join(",")}`;
  });
  more.addEventListener("click", () => {
    limit += 500;
    clearTimeout(timer);
    refresh();
  });
  const refresh = async () => {
    try {
      const body = await ask("/api/runs", { limit });
      more.hidden = !body.more;
      const seen = JSON.stringify(body);
      if (seen !== shownBody) { // re-drawn only when something changed: no flicker, no lost focus
        shownBody = seen;
        runs = body.runs;
        notes.replaceChildren(...body.warnings.map((w) => el("p", { class: "warn", text: w })));
        render();
      }
    } catch (error) {
      notes.replaceChildren(failure(error));
    }
    const live = runs.some((r) => !FINAL.has(r.status));
    if (mine === generation) timer = setTimeout(refresh, live ? 3000 : 10000);
  };
  await refresh();
}

// ---- one run ----
async function runView(id) {
  const mine = generation;
  let run;
  try {
    run = await ask("/api/run", { id });
  } catch (error) {
    show(failure(error));
    return;
  }
  const badge = el("span", { id: "run-status" }, state(run.status));
  const facts = el("p", { class: "mono", text: `${run.name} · ${run.target} · created ${run.created}` +
    (run.overrides.length ? ` · overrides: ${run.overrides.join(" ")}` : "") });
  const stale = el("p", { class: "warn", text: run.stale || "" });
  stale.hidden = !run.stale;
  const points = el("div", { id: "points" });
  const plots = el("div", { class: "plots", id: "plots" });
  const logs = logSection(run);
  show(el("h2", {}, el("span", { class: "mono", text: `${run.id} ` }), badge), facts, stale,
    el("h3", { text: "Points" }), points, el("h3", { text: "Metrics" }), plots,
    el("h3", { text: "Logs" }), logs.node, el("h3", { text: "Spec" }), files(run.spec, "spec"),
    el("h3", { text: "Artifacts" }), files(run.artifacts, "artifacts"));
  const fill = (body) => {
    badge.replaceChildren(state(body.status));
    stale.textContent = body.stale || "";
    stale.hidden = !body.stale;
    points.replaceChildren(pointTable(body.points));
    plots.innerHTML = body.plots.map((p) => p.svg).join("") ||
      '<p class="note">no metrics.jsonl in this run\'s point directories</p>';
  };
  fill(run);
  await logs.poll();
  let tick = 0;
  const again = async () => {
    // the log each second, the states (a scheduler's query) every third: one tab open on a
    // Slurm run costs one sacct every 3 s, not one a second
    tick += 1;
    if (tick % 3 === 0) {
      try {
        run = await ask("/api/run", { id });
        fill(run);
      } catch (error) {
        stale.textContent = String(error.message);
        stale.hidden = false;
      }
    }
    await logs.poll();
    if (!run.final && mine === generation) timer = setTimeout(again, 1000);
  };
  if (!run.final && mine === generation) timer = setTimeout(again, 1000);
}

function pointTable(rows) {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  const columns = ["point", "values", "task", "job", "state", "exit_code", "reason", ...names];
  return table(columns, rows, (r, c) => {
    if (c === "state") return el("td", {}, state(r.state));
    const value = c in r ? r[c] : r.metrics[c];
    return el("td", { class: "mono", text: value === null || value === undefined ? "" : String(value) });
  }, { id: "point-table" });
}

function files(list, name) {
  if (!list.length) return el("p", { class: "note", text: `no ${name} files` });
  return el("div", { id: `${name}-files` }, ...list.map((f, i) => {
    const open = el("details", { "data-path": f.path }, el("summary", { text: f.path + (f.cut ? " (cut)" : "") }),
      code(f.text));
    open.open = name === "spec" && i === 0;
    return open;
  }));
}

// Logs follow by line number: "next" lines are final, the rest of an answer is replaced by
// the next answer (its last line may have been half written).
function logSection(run) {
  const pick = el("select", { id: "log-job" },
    ...run.job_list.map((j) => el("option", { value: j.id, text: `${j.task} · job ${j.id}` })));
  const pre = el("pre", { class: "log", id: "log" });
  let held = 0;
  let lines = [];
  pick.addEventListener("change", () => {
    held = 0;
    lines = [];
    pre.textContent = "";
    poll();
  });
  async function poll() {
    if (!pick.value) return;
    const job = pick.value;
    try {
      const body = await ask("/api/logs", { id: run.id, job, from: held });
      if (job !== pick.value) return;
      lines = lines.slice(0, held).concat(body.lines);
      held = body.next;
      const bottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = lines.join("\n");
      if (bottom) pre.scrollTop = pre.scrollHeight;
    } catch (error) {
      pre.textContent = String(error.message);
    }
  }
  return { node: el("div", {}, pick, pre), poll };
}

// ---- a comparison of runs ----
async function compareView(ids) {
  const holder = el("div", { id: "compare-table" }, el("p", { class: "note", text: "loading…" }));
  const diff = el("div", { class: "diff", id: "diff" });
  show(el("h2", { text: `Compare ${ids.length} runs` }), holder,
    el("h3", { text: `Graph diff: ${ids[0]} → ${ids[1]}` }), diff);
  try {
    const body = await ask("/api/compare", { run: ids });
    holder.replaceChildren(table(body.columns, body.rows, (r, c) => el("td", { class: "mono",
      text: r[c] === null || r[c] === undefined ? "" : String(r[c]) }), { id: "comparison" }));
  } catch (error) {
    holder.replaceChildren(failure(error));
  }
  try {
    const body = await ask("/api/diff", { a: ids[0], b: ids[1] });
    const list = el("pre", { id: "changes", text: body.changes.join("\n") || "no difference" });
    diff.replaceChildren(list);
    if (body.svg) {
      const src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(body.svg)}`;
      diff.append(el("img", { id: "diff-svg", src, alt: "graph diff" }));
    } else if (body.note) diff.append(el("p", { class: "note", text: body.note }));
  } catch (error) {
    diff.replaceChildren(failure(error));
  }
}

function route() {
  clearTimeout(timer);
  generation += 1;
  show(el("p", { class: "note", text: "loading…" })); // never the last view's data meanwhile
  const hash = location.hash || "#/";
  const where = document.getElementById("where");
  if (hash.startsWith("#/run/")) {
    const id = decodeURIComponent(hash.slice(6));
    where.textContent = id;
    runView(id);
  } else if (hash.startsWith("#/compare/")) {
    const ids = decodeURIComponent(hash.slice(10)).split(",").filter(Boolean);
    where.textContent = "compare";
    compareView(ids);
  } else {
    where.textContent = "";
    listView();
  }
}

window.addEventListener("hashchange", route);
route();

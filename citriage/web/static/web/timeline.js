// The timeline grid: select cells, then mark a breakage's start, its fix, or add jobs.
// The form posts (with its CSRF token) the selected commits and jobs as hidden inputs.
"use strict";

(function () {
  const table = document.getElementById("timeline");
  if (table) {
    // The job names' header row sticks just below the group labels, however tall they are.
    const groups = table.querySelector("thead tr:first-child");
    if (groups) table.style.setProperty("--group-row", groups.offsetHeight + "px");
  }
  const form = document.getElementById("mark-form");
  if (!table || !form) return;
  const status = document.getElementById("selection");
  const selected = new Set();
  // Cells do not repeat their job's name: it is the title of their column's header.
  const jobs = [...table.querySelectorAll("thead th.job")].map((th) => th.title);
  const firstJobColumn = 2; // after the commit and breakage columns

  function hidden(name, value) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    input.className = "picked";
    form.append(input);
  }

  function update() {
    const commits = new Set();
    const picked = new Set();
    for (const cell of selected) {
      commits.add(cell.parentElement.dataset.sha);
      picked.add(jobs[cell.cellIndex - firstJobColumn]);
    }
    status.textContent = selected.size
      ? `${selected.size} cell(s) selected: ${commits.size} commit(s), ${picked.size} job(s)`
      : "nothing selected";
    form.querySelectorAll("input.picked").forEach((input) => input.remove());
    commits.forEach((sha) => hidden("sha", sha));
    picked.forEach((job) => hidden("job", job));
  }

  table.addEventListener("click", (event) => {
    const cell = event.target.closest("td.c");
    if (!cell) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return; // open the job
    event.preventDefault();
    if (selected.has(cell)) selected.delete(cell);
    else selected.add(cell);
    cell.classList.toggle("sel");
    update();
  });

  document.getElementById("clear-selection").addEventListener("click", () => {
    selected.forEach((cell) => cell.classList.remove("sel"));
    selected.clear();
    update();
  });
  update();
})();

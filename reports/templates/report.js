"use strict";
(function () {
  // Progressive enhancement: without JS the page is a plain list whose rows still expand (<details>).
  var rowsBox = document.getElementById("rows");
  var rows = Array.prototype.slice.call(rowsBox.children);
  var controls = document.getElementById("controls");
  var query = document.getElementById("q");
  var shown = document.getElementById("shown");
  var empty = document.getElementById("empty");
  var chips = Array.prototype.slice.call(controls.querySelectorAll(".chip"));
  var heads = Array.prototype.slice.call(document.querySelectorAll("#head button[data-sort]"));
  var GROUPS = {action: 1, waived: 1, unchecked: 1, ok: 1};
  var NUMERIC = {rank: 1, age: 1};
  var printAll = document.getElementById("print-all");
  var printDetails = document.getElementById("print-details");
  var texts = null; // lower-cased row text, built on first search (5,000 rows: a few ms)
  var verdictFilter = "all";
  var sortKey = "rank";
  var sortDir = 1;
  var order = new Map();
  rows.forEach(function (row, i) { order.set(row, i); });
  controls.hidden = false;

  function matchesVerdict(row) {
    if (verdictFilter === "all") return true;
    if (verdictFilter === "todo") return row.dataset.action === "1";
    if (GROUPS[verdictFilter] === 1) return row.dataset.group === verdictFilter;
    return row.dataset.verdict === verdictFilter;
  }

  function applyFilter() {
    var q = query.value.trim().toLowerCase();
    if (q && texts === null) texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
    var n = 0;
    for (var i = 0; i < rows.length; i++) {
      var ok = matchesVerdict(rows[i]) && (!q || texts[i].indexOf(q) !== -1);
      if (rows[i].hidden === ok) rows[i].hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = n + " of " + rows.length + " hosts";
    empty.hidden = n !== 0;
  }

  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});

  function sortedRows() {
    // Read each row's keys once: comparing dataset values inside sort() is far slower at 5,000 rows.
    var items = rows.map(function (row) {
      var k = row.dataset[sortKey] || "";
      var key = NUMERIC[sortKey] ? (k === "" ? -1 : Number(k)) : k;
      return {row: row, key: key, rank: Number(row.dataset.rank), pos: order.get(row)};
    });
    var numeric = NUMERIC[sortKey] === 1;
    items.sort(function (a, b) {
      if (!numeric && (a.key === "") !== (b.key === "")) return a.key === "" ? 1 : -1; // blanks last, both ways
      var d = numeric ? a.key - b.key : collator.compare(a.key, b.key);
      if (d === 0 && sortKey !== "rank") d = a.rank - b.rank;
      return d !== 0 ? d * sortDir : a.pos - b.pos;
    });
    return items.map(function (item) { return item.row; });
  }

  function sortBy(key) {
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    var sorted = sortedRows();
    var frag = document.createDocumentFragment();
    sorted.forEach(function (row) { frag.appendChild(row); });
    rowsBox.appendChild(frag);
    if (texts !== null) {
      var byRow = new Map();
      rows.forEach(function (row, i) { byRow.set(row, texts[i]); });
      texts = sorted.map(function (row) { return byRow.get(row); });
    }
    rows = sorted;
    heads.forEach(function (h) {
      if (h.dataset.sort === key) h.setAttribute("aria-sort", sortDir === 1 ? "ascending" : "descending");
      else h.removeAttribute("aria-sort");
    });
  }

  chips.forEach(function (chip) {
    chip.addEventListener("click", function () {
      verdictFilter = chip.dataset.filter;
      chips.forEach(function (c) { c.setAttribute("aria-pressed", c === chip ? "true" : "false"); });
      applyFilter();
    });
  });
  heads.forEach(function (h) { h.addEventListener("click", function () { sortBy(h.dataset.sort); }); });
  var timer = 0;
  query.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(applyFilter, rows.length > 1000 ? 150 : 0);
  });
  query.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { clearTimeout(timer); applyFilter(); }
  });
  document.getElementById("expand").addEventListener("click", function () {
    rows.forEach(function (row) { if (!row.hidden) row.open = true; });
  });
  document.getElementById("collapse").addEventListener("click", function () {
    rows.forEach(function (row) { row.open = false; });
  });

  // Printing: the summary page, then the hosts to act on as rows with what to do (CSS does the hiding,
  // so a page printed without scripts is the same); "print every shown host" adds the others, "print
  // their details" expands the printed hosts (and closes them again after).
  printAll.addEventListener("change", function () {
    document.body.classList.toggle("print-all", printAll.checked);
  });
  printDetails.addEventListener("change", function () {
    document.body.classList.toggle("print-details", printDetails.checked);
  });
  var openedForPrint = [];
  window.addEventListener("beforeprint", function () {
    openedForPrint = !printDetails.checked ? [] : rows.filter(function (row) {
      return !row.hidden && !row.open && (printAll.checked || row.dataset.action === "1");
    });
    openedForPrint.forEach(function (row) { row.open = true; });
  });
  window.addEventListener("afterprint", function () {
    openedForPrint.forEach(function (row) { row.open = false; });
    openedForPrint = [];
  });
})();

"""A report as it comes out on A4: laid out at the printed width, and its PDF read back as text.

A4 is 210 mm wide; report.css prints with 11 mm margins, which leaves 188 mm, about 710 CSS px. A page emulating
print media in a 710 px wide viewport lays out as the paper does, so the checks below measure what a reader gets.
The PDF's text comes from poppler's pdftotext (`tools/ensure-chromium.sh` installs it with Chromium).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

A4_CONTENT_PX = 710

# Values a reader copies or compares, that must never be broken across two lines: IPv4 addresses with their port,
# builds, dates, times, a log file with its line, an age. (A long name or IPv6 address may wrap between its parts.)
VALUE_PATTERN = (r"\d+(?:\.\d+){2,}(?::\d+)?|\d{4}-\d\d-\d\d|\d\d:\d\d(?::\d\d)?"
                 r"|[\w-]+\.(?:log|lo_)(?::\d+)?|\(\d+ (?:wk|runs?)\)|\(this week\)")

_SPLIT_VALUES = r"""pattern => {
  const re = new RegExp(pattern, 'g');
  const split = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT);
  const blocks = [];
  while (walker.nextNode()) {
    const el = walker.currentNode;
    if (!(el instanceof HTMLElement)) continue;  // the trend's SVG places its own text
    const d = getComputedStyle(el).display;
    if (d !== 'inline' && d !== 'contents' && el.checkVisibility()) blocks.push(el);
  }
  for (const el of blocks) {
    // the text of this block's own inline content (not of blocks inside it), with where each piece sits
    const nodes = []; let text = '';
    const inner = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {acceptNode: n => {
      for (let p = n.parentElement; p && p !== el; p = p.parentElement)
        if (getComputedStyle(p).display !== 'inline') return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT; }});
    while (inner.nextNode()) { nodes.push([inner.currentNode, text.length]); text += inner.currentNode.data; }
    const at = i => {
      for (let k = nodes.length - 1; k >= 0; k--) if (nodes[k][1] <= i) return [nodes[k][0], i - nodes[k][1]];
    };
    for (const m of text.matchAll(re)) {
      const [sn, so] = at(m.index), [en, eo] = at(m.index + m[0].length - 1);
      const r = document.createRange(); r.setStart(sn, so); r.setEnd(en, eo + 1);
      const rects = [...r.getClientRects()].filter(x => x.width > 0 && x.height > 0);
      if (!rects.length) continue;
      const tops = rects.map(x => x.top), high = Math.max(...rects.map(x => x.height));
      if (Math.max(...tops) - Math.min(...tops) > high / 2) split.push(m[0]);
    }
  }
  return split;
}"""

# The host table's cells and the header button over each: on screen and on paper a cell starts where its header does.
_COLUMNS = {"c-host": "host", "c-addr": "address", "c-site": "site", "c-build": "build", "c-verdict": "rank",
            "c-why": "why", "c-change": "change", "c-first": "first", "c-age": "age"}

_MISALIGNED = r"""columns => {
  const head = {};
  for (const b of document.querySelectorAll('#head button[data-sort]')) {
    const r = b.getBoundingClientRect(); if (b.checkVisibility()) head[b.dataset.sort] = r;
  }
  const wrong = [];
  for (const row of document.querySelectorAll('details.host > summary.row')) {
    if (!row.checkVisibility()) continue;
    for (const [cls, key] of Object.entries(columns)) {
      const cell = row.querySelector(':scope > .' + cls);
      if (!cell || !head[key]) continue;
      const r = cell.getBoundingClientRect();
      if (Math.abs(r.left - head[key].left) > 1 || r.right > head[key].right + 1)
        wrong.push(row.parentElement.dataset.host + ' ' + cls);
    }
  }
  return wrong;
}"""


def split_values(page: object) -> list[str]:
    """The values (VALUE_PATTERN) shown on the page that are broken across two lines."""
    return page.evaluate(_SPLIT_VALUES, VALUE_PATTERN)  # type: ignore[attr-defined,no-any-return]


def misaligned_cells(page: object) -> list[str]:
    """The host table's cells (as "host c-class") that do not sit under their column's header."""
    return page.evaluate(_MISALIGNED, _COLUMNS)  # type: ignore[attr-defined,no-any-return]


def as_printed(page: object) -> None:
    """Lay the page out as A4 paper does: print media, the printed content's width."""
    page.set_viewport_size({"width": A4_CONTENT_PX, "height": 1000})  # type: ignore[attr-defined]
    page.emulate_media(media="print")  # type: ignore[attr-defined]


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page of a PDF, laid out as printed (pdftotext -layout); skips without poppler."""
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext not found (poppler-utils; tools/ensure-chromium.sh installs it as root)")
    text = subprocess.run([tool, "-layout", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True,
                          check=True, timeout=120).stdout.decode("utf-8")
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))

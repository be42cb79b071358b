"""`index.html`: a static, offline gallery of a batch run's figures (accuracy, confusion matrix, filters).

One self-contained file: HTML, CSS and vanilla JS, the data embedded as JSON, thumbnails are the figure
PNGs themselves by relative path. It opens from a `file://` URL with no server and no network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import quote

from PIL import Image

from camviz.render import write_atomic
from camviz.report import ManifestRow, is_correct, summarize

GALLERY_NAME = "index.html"

_TEMPLATE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
:root{--bg:#f3f4f7;--panel:#fff;--ink:#1c2230;--muted:#5f6878;--line:#dcdfe6;--bad:#c62828;--good:#2e7d32;--warn:#9a5b00;--accent:#1f5fbf}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
.layout{display:grid;grid-template-columns:340px minmax(0,1fr);min-height:100vh}
aside{position:sticky;top:0;height:100vh;overflow:auto;padding:14px 16px;background:var(--panel);border-right:1px solid var(--line)}
main{padding:14px 16px}
h1{font-size:17px;margin:0 0 2px;overflow-wrap:anywhere}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:16px 0 6px}
.sub{color:var(--muted);font-size:12.5px}
.stats{display:flex;gap:14px;margin-top:10px}
.stat b{display:block;font-size:21px;line-height:1.1}.stat span{color:var(--muted);font-size:12px}
label{display:block;font-size:12.5px;color:var(--muted);margin:6px 0 2px}
select,button{width:100%;font:inherit;padding:4px 6px;border:1px solid var(--line);border-radius:5px;background:#fff;color:var(--ink)}
button{margin-top:8px;cursor:pointer}button:hover{border-color:var(--accent)}
#count{margin-top:8px;font-weight:600}
.mwrap{overflow:auto;max-height:45vh}
table.cm{border-collapse:collapse;font-size:12px}
.cm th,.cm td{border:1px solid var(--line);padding:3px 6px;text-align:center;white-space:nowrap}
.cm th{font-weight:600;background:#fafbfc;max-width:7em;overflow:hidden;text-overflow:ellipsis}
.cm th.rh{text-align:left}.cm .corner{color:var(--muted);font-weight:400}
.cm td.n{cursor:pointer}.cm td.n:hover,.cm td.sel{outline:2px solid var(--accent);outline-offset:-2px}
.cm td.z{color:#b8bdc7}
.errors{padding-left:0;list-style:none}.errors li{margin:6px 0;font-size:12.5px;overflow-wrap:anywhere}.errors .why{color:var(--bad)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-top:4px solid var(--good);border-radius:6px;overflow:hidden}
.card.bad{border-top-color:var(--bad)}.card.unl{border-top-color:var(--line)}
.card a{display:block}.card img{display:block;width:100%;height:auto;background:#e9ebef}
.meta{padding:6px 9px 8px;font-size:13px}
.row1{display:flex;justify-content:space-between;gap:6px}
.idx{color:var(--muted)}.conf{font-weight:600}
.tag{font-size:11.5px;font-weight:700;padding:0 6px;border-radius:9px;color:#fff;background:var(--good)}
.bad .tag{background:var(--bad)}.bad .p{color:var(--bad)}.unl .tag{background:var(--muted)}
.path{color:var(--muted);font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.warn{color:var(--warn);font-size:12px}.missing{padding:30px 8px;text-align:center;color:var(--bad)}
#empty{color:var(--muted);padding:30px;text-align:center}
@media (max-width:860px){.layout{grid-template-columns:1fr}aside{position:static;height:auto;border-right:0}}
</style></head>
<body><div class="layout">
<aside>
<h1>$title</h1><div class="sub" id="sub"></div>
<div class="stats" id="stats"></div>
<h2>Filter</h2>
<label for="f-true">True class</label><select id="f-true"></select>
<label for="f-pred">Predicted class</label><select id="f-pred"></select>
<label for="f-ok">Outcome</label><select id="f-ok"><option value="all">all</option>
<option value="bad">incorrect</option><option value="good">correct</option></select>
<button id="reset" type="button">Show all</button>
<div id="count"></div>
<h2>Confusion matrix</h2><div class="sub">rows: true, columns: predicted; click a cell to filter</div>
<div class="mwrap"><table class="cm" id="cm"></table></div>
<div id="errors"></div>
</aside>
<main><div class="grid" id="grid"></div><div id="empty" hidden>No figures match these filters.</div></main>
</div>
<noscript>This gallery needs JavaScript to show the figures.</noscript>
<script type="application/json" id="camviz-data">$data</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("camviz-data").textContent);
  var S = {t: "", p: "", o: "all"};
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function pct(x) { return x === null ? "n/a" : (100 * x).toFixed(1) + "%"; }
  function card(r) {
    var c = el("div", "card " + (r.labelled ? (r.mistake ? "bad" : "good") : "unl"));
    if (r.missing) { c.appendChild(el("div", "missing", "figure missing: " + r.output)); }
    else {
      var a = el("a"); a.href = r.src; a.target = "_blank"; a.rel = "noopener"; a.title = "open " + r.output;
      var img = el("img"); img.loading = "lazy"; img.src = r.src; img.alt = "true " + r.true + ", predicted " + r.pred;
      if (r.w) { img.width = r.w; img.height = r.h; }
      a.appendChild(img); c.appendChild(a);
    }
    var m = el("div", "meta"), l1 = el("div", "row1"), left = el("span");
    left.appendChild(el("span", "tag", r.labelled ? (r.mistake ? "\\u2717 wrong" : "\\u2713 right") : "no label"));
    left.appendChild(document.createTextNode(" "));
    left.appendChild(el("span", "idx", "#" + r.index));
    l1.appendChild(left); l1.appendChild(el("span", "conf", r.conf === null ? "" : pct(r.conf)));
    m.appendChild(l1);
    var tp = el("div"); tp.append("true ", el("b", "", r.true || "\\u2014"), " \\u2192 pred ", el("b", "p", r.pred));
    m.appendChild(tp);
    if (r.target && r.target !== r.pred) m.appendChild(el("div", "sub", "explained: " + r.target));
    var p = el("div", "path", r.path); p.title = r.path; m.appendChild(p);
    if (r.warn) m.appendChild(el("div", "warn", r.warn));
    c.appendChild(m); r.node = c; return c;
  }
  function options(sel) {
    sel.appendChild(new Option("all", ""));
    D.classes.forEach(function (name, i) { sel.appendChild(new Option(name, String(i))); });
  }
  function shown(r) {
    if (S.t !== "" && String(r.ti) !== S.t) return false;
    if (S.p !== "" && String(r.pi) !== S.p) return false;
    if (S.o === "bad") return r.labelled && r.mistake;
    if (S.o === "good") return r.labelled && !r.mistake;
    return true;
  }
  function apply() {
    var n = 0;
    D.rows.forEach(function (r) { var v = shown(r); r.node.hidden = !v; n += v ? 1 : 0; });
    document.getElementById("count").textContent = "showing " + n + " of " + D.rows.length;
    document.getElementById("empty").hidden = n > 0;
    document.querySelectorAll("#cm td.n").forEach(function (td) {
      td.classList.toggle("sel", td.dataset.t === S.t && td.dataset.p === S.p);
    });
  }
  function setFilter(t, p, o) {
    S = {t: t, p: p, o: o};
    document.getElementById("f-true").value = t;
    document.getElementById("f-pred").value = p;
    document.getElementById("f-ok").value = o;
    apply();
  }
  function matrix() {
    var tb = document.getElementById("cm"), head = el("tr");
    head.appendChild(el("th", "corner", "true \\\\ pred"));
    D.classes.forEach(function (name) { var th = el("th", "", name); th.title = name; head.appendChild(th); });
    tb.appendChild(head);
    D.matrix.forEach(function (counts, i) {
      var tr = el("tr"), total = counts.reduce(function (s, x) { return s + x; }, 0);
      var th = el("th", "rh", D.classes[i]); th.title = D.classes[i]; tr.appendChild(th);
      counts.forEach(function (n, j) {
        var td = el("td", n ? "n" : "z", n);
        if (n) {
          var a = 0.15 + 0.6 * n / total;
          td.style.background = i === j ? "rgba(46,125,50," + a + ")" : "rgba(198,40,40," + a + ")";
          td.dataset.t = String(i); td.dataset.p = String(j);
          td.title = D.classes[i] + " \\u2192 " + D.classes[j] + ": " + n;
          td.addEventListener("click", function () { setFilter(String(i), String(j), "all"); });
        }
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
  }
  function errors() {
    if (!D.errors.length) return;
    var box = document.getElementById("errors"), ul = el("ul", "errors");
    box.appendChild(el("h2", "", "Skipped (" + D.errors.length + ")"));
    D.errors.forEach(function (e) {
      var li = el("li"); li.appendChild(el("div", "", "#" + e.index + " " + e.path));
      li.appendChild(el("div", "why", e.error)); ul.appendChild(li);
    });
    box.appendChild(ul);
  }
  function stats() {
    var s = D.summary, box = document.getElementById("stats");
    [[pct(s.accuracy), "accuracy (" + s.correct + "/" + s.labelled + ")"], [s.mistakes, "mistakes"],
     [s.processed, "figures"], [s.skipped, "skipped"]].forEach(function (x) {
      var d = el("div", "stat"); d.appendChild(el("b", "", x[0])); d.appendChild(el("span", "", x[1])); box.appendChild(d);
    });
    document.getElementById("sub").textContent = "method: " + D.method + " \\u00b7 mistakes first, then least confident";
  }
  var grid = document.getElementById("grid");
  D.rows.forEach(function (r) { grid.appendChild(card(r)); });
  options(document.getElementById("f-true")); options(document.getElementById("f-pred"));
  ["f-true", "f-pred", "f-ok"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function () {
      setFilter(document.getElementById("f-true").value, document.getElementById("f-pred").value,
                document.getElementById("f-ok").value);
    });
  });
  document.getElementById("reset").addEventListener("click", function () { setFilter("", "", "all"); });
  stats(); matrix(); errors(); apply();
})();
</script></body></html>
""")


def write_gallery(output_dir: Path, rows: Sequence[ManifestRow], class_names: Sequence[str], method: str,
                  title: str | None = None) -> Path:
    """Write `output_dir/index.html` (atomically) for a batch run's manifest rows; return its path."""
    output_dir = Path(output_dir)
    title = title or f"camviz {method}: {output_dir.resolve().name}"
    data = gallery_data(output_dir, rows, class_names, method)
    html = _TEMPLATE.substitute(title=escape(title), data=_script_json(data))
    path = output_dir / GALLERY_NAME
    write_atomic(path, html.encode("utf-8"))
    return path


def gallery_data(output_dir: Path, rows: Sequence[ManifestRow], class_names: Sequence[str],
                 method: str) -> dict:
    """What the page shows: class axis, sorted figure records, confusion counts, skipped rows, summary."""
    ok = sorted((row for row in rows if row.status == "ok"), key=_sort_key)
    axis = class_axis(class_names, ok)
    position = {name: i for i, name in enumerate(axis)}
    matrix = [[0] * len(axis) for _ in axis]
    for row in ok:
        if row.true and row.pred:
            matrix[position[row.true]][position[row.pred]] += 1
    summary = summarize(rows, classes=class_names)
    return {
        "method": method,
        "classes": axis,
        "rows": [_record(output_dir, row, position) for row in ok],
        "matrix": matrix,
        "errors": [{"index": row.index, "path": row.path, "error": row.error or "error"}
                   for row in sorted(rows, key=lambda r: r.index) if row.status != "ok"],
        "summary": {"processed": summary.processed, "skipped": summary.skipped, "correct": summary.correct,
                    "labelled": summary.labelled, "accuracy": summary.accuracy,
                    "mistakes": sum(_is_mistake(row) for row in ok)},
    }


def class_axis(class_names: Sequence[str], rows: Sequence[ManifestRow]) -> list[str]:
    """The model's class names in order, then any other label the rows use (e.g. an unknown folder)."""
    axis = list(dict.fromkeys(class_names))
    seen = set(axis)
    for row in rows:
        for name in (row.true, row.pred):
            if name and name not in seen:
                seen.add(name)
                axis.append(name)
    return axis


def _record(output_dir: Path, row: ManifestRow, position: dict[str, int]) -> dict:
    """One figure's card data; `src` is the figure's URL relative to `index.html`."""
    size = _image_size(output_dir / row.output) if row.output else None
    return {
        "index": row.index, "path": row.path, "true": row.true, "pred": row.pred,
        "ti": position.get(row.true, -1), "pi": position.get(row.pred, -1),
        "conf": _confidence(row), "target": row.target, "output": row.output, "src": quote(row.output),
        "w": size[0] if size else None, "h": size[1] if size else None, "missing": size is None,
        "labelled": bool(row.true), "mistake": _is_mistake(row), "warn": row.error,
    }


def _is_mistake(row: ManifestRow) -> bool:
    return bool(row.true) and not is_correct(row.true, row.pred)


def _confidence(row: ManifestRow) -> float | None:
    try:
        value = float(row.confidence)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _sort_key(row: ManifestRow) -> tuple[bool, float, int]:
    """Mistakes first, then the least confident, then by index."""
    confidence = _confidence(row)
    return (not _is_mistake(row), confidence if confidence is not None else -1.0, row.index)


def _image_size(path: Path) -> tuple[int, int] | None:
    """Width and height of a figure (PIL reads only the header), or None when it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


def _script_json(data: dict) -> str:
    """JSON that is safe inside a `<script>` element: no `<`, `>` or `&` that could end or open a tag."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text

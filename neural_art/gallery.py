"""A sweep's contact sheet: ``index.html``, static and self-contained.

No server, no CDN: the page opens from ``file://``. One thumbnail per perturbed
network (a small mosaic of its rows), the unperturbed network first; paginated
(``PAGE`` networks a page, thumbnails lazily loaded) so 10,000 networks stay
usable; sort and filter by every score; clicking a network shows all its images
at full size, its seed, the sweep's settings, its scores and the exact command
that regenerates it, and its lineage (:mod:`neural_art.lineage`): the networks it
was bred from and its children in this gallery, each a link to its own view
(ancestors not in the gallery are plain text). State lives in the URL hash
(``#sort=colourfulness&desc=1&page=2``, ``#net=17``, ``#sel=17,203.4``), so a view
can be bookmarked.

Breeding (when :func:`write` is given ``breed``, the CLI's command prefix): every
network but θ* has a tick box (in its card and in its view); for the ticked
networks the page shows the exact command that breeds them into this gallery,
``<breed> --mode=breed --parents=A,B --children=N --beta=B`` (``id="breed-command"``)
and, with exactly two ticked, the cross ``--cross=A:B`` (``id="cross-command"``),
each shell-quoted as ``shlex.join`` does, with a Copy button (the clipboard, or the
command selected for Ctrl+C where the page may not write it). Children and β are
inputs on the page (16, and the β this directory records or 0.3).

:func:`write` is called again as chunks finish (a running sweep can be watched:
while ``running`` the page reloads itself every 20 s); thumbnails are written
once, as small JPEGs, and reused.
"""

from __future__ import annotations

import html
import json
import math
import os
import pathlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from neural_art import atomic

PAGE = 120
THUMB = 96  # pixels per row image in a thumbnail mosaic


def thumbnail(out_dir: str | os.PathLike, name: str, images: Sequence[np.ndarray]) -> str:
    """Writes ``thumbs/<name>.jpg`` (once): up to 4 rows side by side, each
    ``THUMB`` px high. ``images``: uint8 ``[H, W, 3]``. Returns the relative path."""
    rel = f"thumbs/{name}.jpg"
    path = pathlib.Path(out_dir) / rel
    if path.exists():
        return rel
    tiles = []
    for im in list(images)[:4]:
        pil = Image.fromarray(np.asarray(im, np.uint8))
        tiles.append(
            pil.resize(
                (max(1, round(pil.width * THUMB / pil.height)), THUMB), Image.Resampling.BILINEAR
            )
        )
    sheet = Image.new("RGB", (sum(t.width for t in tiles), THUMB), "white")
    x = 0
    for t in tiles:
        sheet.paste(t.convert("RGB"), (x, 0))
        x += t.width
    with atomic.atomic_path(path) as tmp:
        sheet.save(tmp, format="JPEG", quality=80)
    return rel


def write(
    out_dir: str | os.PathLike,
    *,
    title: str,
    settings: Mapping,
    networks: Sequence[Mapping],
    row_labels: Sequence[str],
    running: bool = False,
    breed: str = "",
) -> pathlib.Path:
    """Writes ``<out_dir>/index.html``.

    Args:
      networks: the unperturbed network first (``seed`` None), then one mapping
        per network: ``seed``, ``thumb`` (relative path), ``images`` (relative
        paths, one per row), ``scores`` (name -> float), ``command`` (string) and,
        optionally, ``parents`` / ``children`` (id strings, :func:`neural_art.lineage.parents`
        / :func:`neural_art.lineage.children`).
      row_labels: one label per row (e.g. ``"volcano z0"``).
      running: the sweep is still writing: the page reloads itself.
      breed: the breed command's prefix, shell-quoted (``shlex.join``): everything but
        ``--mode`` / ``--parents`` / ``--cross`` / ``--children`` / ``--beta``, its
        ``--out_dir`` this directory. Empty: no tick boxes, no breed commands.
    """
    data = {"title": title, "settings": settings, "rows": list(row_labels),
            "networks": list(networks), "page": PAGE, "breed": breed}  # fmt: skip
    refresh = '<meta http-equiv="refresh" content="20">' if running else ""
    subs = {"TITLE": html.escape(title), "REFRESH": refresh, "DATA": page_json(data)}
    page = re.sub(r"%(TITLE|REFRESH|DATA)%", lambda m: subs[m.group(1)], _TEMPLATE)  # one pass
    return atomic.write_text(pathlib.Path(out_dir) / "index.html", page)


def finite_or_none(obj):
    """``obj`` with every non-finite float (NaN, ±inf) replaced by None (JSON null):
    strict JSON, which ``JSON.parse`` reads (it refuses ``NaN``)."""
    if isinstance(obj, Mapping):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def page_json(data) -> str:
    """``data`` as strict JSON safe inside ``<script type="application/json">``: no
    ``<``, ``>`` or ``&`` characters (escaped as ``\\u003c`` ...), so no value can
    close the element or open a comment; non-finite numbers become null."""
    blob = json.dumps(finite_or_none(data), default=float, allow_nan=False)
    return blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_TEMPLATE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">%REFRESH%
<title>%TITLE%</title>
<style>
body{font:14px system-ui,sans-serif;margin:12px;background:#fafafa;color:#222}
header{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin-bottom:10px}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.net{background:#fff;border:1px solid #ddd;border-radius:4px;padding:4px;cursor:pointer;font-size:12px;width:min-content}
.net.orig{border-color:#c60}
.net.picked{outline:2px solid #06c}
.net img{display:block;height:96px}
.sc{color:#666}
#detail img{max-width:100%;min-width:256px;image-rendering:pixelated;margin:4px 0;display:block}
pre{background:#eee;padding:8px;white-space:pre-wrap;word-break:break-all}
#breed{background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px;margin-bottom:10px}
#breed pre{margin:4px 0}
.absent{color:#888}
table{border-collapse:collapse}td{border:1px solid #ddd;padding:2px 6px}
.hidden{display:none}
</style></head><body>
<header><b id="title"></b>
<label>sort <select id="sort"></select></label>
<label><input type="checkbox" id="desc"> descending</label>
<label>filter <select id="fkey"></select> ≥ <input id="fmin" size="6"> ≤ <input id="fmax" size="6"></label>
<span id="count"></span>
<button id="prev">‹ prev</button><span id="pageno"></span><button id="next">next ›</button>
</header>
<div id="breed" class="hidden"><b>breed</b> <span id="picked"></span> <button id="clear">clear ticks</button>
<label>children <input id="children" type="number" min="1" step="1" value="16" size="4"></label>
<label>β <input id="beta" type="number" min="0" max="1" step="0.05" size="4"></label>
<div id="breed-out" class="hidden"><pre id="breed-command"></pre><button id="copy-breed">copy</button>
<div id="cross-out" class="hidden">or cross the two:<pre id="cross-command"></pre><button id="copy-cross">copy</button></div></div>
</div>
<div id="list" class="grid"></div>
<div id="detail" class="hidden"></div>
<script id="data" type="application/json">%DATA%</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const nets = D.networks, orig = nets.filter(n => n.seed === null), rest = nets.filter(n => n.seed !== null);
const byId = new Map(rest.map(n => [String(n.seed), n]));
const keys = ["seed"].concat(Object.keys((rest[0] || nets[0] || {scores: {}}).scores || {}));
const BETA = ((D.settings || {}).breeding || {}).beta ?? 0.3;  // a directory keeps one β
const $ = id => document.getElementById(id);
function state() {
  const s = {sort: "seed", desc: "0", page: "1", fkey: "", fmin: "", fmax: "", net: "", sel: ""};
  for (const kv of location.hash.slice(1).split("&")) {
    const [k, v] = kv.split("="); if (k in s) s[k] = decodeURIComponent(v || "");
  }
  return s;
}
function go(changes) {
  const s = Object.assign(state(), changes);
  location.hash = Object.entries(s).filter(([k, v]) => v !== "")
    .map(([k, v]) => k + "=" + encodeURIComponent(v).replace(/%2C/g, ",")).join("&");
}
const val = (n, k) => k === "seed" ? n.seed : (n.scores || {})[k];
const byName = (a, b) => typeof a.seed !== typeof b.seed ? (typeof a.seed === "number" ? -1 : 1)
  : typeof a.seed === "number" ? a.seed - b.seed : a.seed < b.seed ? -1 : a.seed > b.seed ? 1 : 0;  // seeds, then lineages
const fmt = x => x === null || x === undefined ? "n/a" : typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toPrecision(3)) : String(x);
function el(tag, props, ...kids) {  // every string becomes a text node: data is never markup
  const e = Object.assign(document.createElement(tag), props || {});
  e.append(...kids);
  return e;
}
const url = p => String(p).split("/").map(encodeURIComponent).join("/");  // a relative file path
const label = n => n.seed === null ? "original (θ*)" : (typeof n.seed === "number" ? "seed " : "network ") + n.seed;
const ticked = s => [...new Set(s.sel.split(","))].filter(id => byId.has(id));  // in ticking order
function tick(id, on) {
  const xs = ticked(state()).filter(x => x !== id);
  go({sel: (on ? xs.concat([id]) : xs).join(",")});
  showBreed(state());  // now: the hash's render follows as an event
}
function box(id, s) {
  const b = el("input", {type: "checkbox", className: "pick", checked: ticked(s).includes(id), title: "tick to breed"});
  b.dataset.net = id;
  b.onclick = e => e.stopPropagation();  // a tick is not a click through
  b.onchange = () => tick(id, b.checked);
  return b;
}
const SAFE = /^[A-Za-z0-9_@%+=:,.\/-]+$/;  // Python's shlex.quote leaves these unquoted
const quote = a => a === "" ? "''" : SAFE.test(a) ? a : "'" + a.replace(/'/g, "'\"'\"'") + "'";
const command = (...args) => D.breed + " " + args.map(quote).join(" ");  // shlex.join(prefix + args)
function showBreed(s) {
  if (!D.breed) return;
  const xs = ticked(s), n = $("children").value || "16", b = $("beta").value || String(BETA);
  const tail = ["--children=" + n, "--beta=" + b];
  $("picked").textContent = xs.length ? "ticked: " + xs.join(", ") : "tick networks to breed from them";
  $("breed-out").className = xs.length ? "" : "hidden";
  $("cross-out").className = xs.length === 2 ? "" : "hidden";
  $("breed-command").textContent = xs.length ? command("--mode=breed", "--parents=" + xs.join(","), ...tail) : "";
  $("cross-command").textContent = xs.length === 2 ? command("--mode=breed", "--cross=" + xs.join(":"), ...tail) : "";
  $("copy-breed").textContent = $("copy-cross").textContent = "copy";
}
function copy(pre, btn) {  // the clipboard where the page may write it, else the text selected for Ctrl+C
  const select = () => {
    const r = document.createRange(); r.selectNodeContents(pre);
    const w = getSelection(); w.removeAllRanges(); w.addRange(r);
    let ok = false; try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    btn.textContent = ok ? "copied" : "selected: press Ctrl+C";
  };
  if (!navigator.clipboard || !window.isSecureContext) { select(); return Promise.resolve(); }
  return navigator.clipboard.writeText(pre.textContent).then(() => { btn.textContent = "copied"; }, select);
}
function card(n, s) {
  const sc = Object.entries(n.scores || {}).map(([k, v]) => k + " " + fmt(v)).join(" · ");
  const id = n.seed === null ? "original" : String(n.seed), pick = D.breed && n.seed !== null;
  const d = el("div", {className: "net" + (n.seed === null ? " orig" : "") + (pick && ticked(s).includes(id) ? " picked" : "")},
    el("img", {loading: "lazy", alt: "", src: url(n.thumb)}), el("div", {}, pick ? box(id, s) : "", label(n)), el("div", {className: "sc"}, sc));
  d.dataset.seed = id;
  d.onclick = () => go({net: d.dataset.seed});
  return d;
}
function showList(s) {
  $("detail").className = "hidden"; $("list").className = "grid";
  let xs = rest.slice();
  const lo = parseFloat(s.fmin), hi = parseFloat(s.fmax);
  if (s.fkey) xs = xs.filter(n => { const v = val(n, s.fkey); return !(v < lo) && !(v > hi); });
  const sign = s.desc === "1" ? -1 : 1;
  xs.sort((a, b) => sign * (s.sort === "seed" ? byName(a, b) : (val(a, s.sort) ?? -Infinity) - (val(b, s.sort) ?? -Infinity)) || byName(a, b));
  const pages = Math.max(1, Math.ceil(xs.length / D.page)), p = Math.min(Math.max(1, +s.page || 1), pages);
  const shown = (p === 1 ? orig : []).concat(xs.slice((p - 1) * D.page, p * D.page));
  const list = $("list"); list.replaceChildren(...shown.map(n => card(n, s)));
  $("count").textContent = xs.length + " of " + rest.length + " networks";
  $("pageno").textContent = " page " + p + " / " + pages + " ";
  $("prev").disabled = p <= 1; $("next").disabled = p >= pages;
  $("prev").onclick = () => go({page: String(p - 1)}); $("next").onclick = () => go({page: String(p + 1)});
}
function link(id) {  // a network of this page: a link to its view; any other: plain text
  if (!byId.has(id)) return el("span", {className: "absent", title: "not in this gallery"}, id);
  const a = el("a", {href: "#net=" + encodeURIComponent(id)}, id);
  a.onclick = e => { e.preventDefault(); go({net: id}); };  // the other state (sort, ticks) stays
  return a;
}
const links = ids => ids.length ? ids.flatMap((id, i) => i ? [", ", link(id)] : [link(id)]) : ["none"];
function lineageView(n) {
  const up = n.parents || [], down = n.children || [];
  if (n.seed === null || !(up.length || down.length || D.breed)) return [];
  return [el("h3", {}, "lineage"), el("div", {id: "parents"}, "bred from: ", ...links(up)),
    el("div", {id: "children"}, "children here: ", ...links(down))];
}
function showDetail(s) {
  const n = nets.find(n => String(n.seed === null ? "original" : n.seed) === s.net);
  if (!n) { go({net: ""}); return; }
  $("list").className = "hidden"; const d = $("detail"); d.className = "";
  const row = (k, v) => el("tr", {}, el("td", {}, String(k)), el("td", {}, v));
  const show = v => typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  const pick = D.breed && n.seed !== null ? el("label", {}, box(String(n.seed), s), " tick to breed") : "";
  d.replaceChildren(el("button", {id: "back"}, "‹ all networks"), el("h2", {}, label(n)), pick, ...lineageView(n),
    el("h3", {}, "regenerate"), el("pre", {id: "command"}, n.command || ""),
    el("h3", {}, "scores"), el("table", {}, ...Object.entries(n.scores || {}).map(([k, v]) => row(k, fmt(v)))),
    el("h3", {}, "settings"), el("table", {}, ...Object.entries(D.settings).map(([k, v]) => row(k, show(v)))),
    el("h3", {}, "images"), ...n.images.flatMap((src, i) => [el("div", {}, String(D.rows[i] ?? "")), el("img", {alt: "", src: url(src)})]));
  $("back").onclick = () => go({net: ""});
}
function render() {
  const s = state();
  $("sort").value = s.sort; $("desc").checked = s.desc === "1";
  $("fkey").value = s.fkey; $("fmin").value = s.fmin; $("fmax").value = s.fmax;
  if (s.net) showDetail(s); else showList(s);
  showBreed(s);
  document.body.dataset.renderMs = performance.now().toFixed(1);  // since navigation start
}
$("title").textContent = D.title;
for (const k of keys) { $("sort").add(new Option(k, k)); }
$("fkey").add(new Option("(none)", "")); for (const k of keys.slice(1)) { $("fkey").add(new Option(k, k)); }
$("sort").onchange = e => go({sort: e.target.value, page: "1"});
$("desc").onchange = e => go({desc: e.target.checked ? "1" : "0", page: "1"});
for (const id of ["fkey", "fmin", "fmax"]) $(id).onchange = e => go({[id]: e.target.value, page: "1"});
if (D.breed) {
  $("breed").className = ""; $("beta").value = String(BETA);
  $("children").oninput = $("beta").oninput = () => showBreed(state());
  $("clear").onclick = () => { go({sel: ""}); showBreed(state()); };
  $("copy-breed").onclick = () => copy($("breed-command"), $("copy-breed"));
  $("copy-cross").onclick = () => copy($("cross-command"), $("copy-cross"));
}
window.onhashchange = render;
render();
</script></body></html>
"""

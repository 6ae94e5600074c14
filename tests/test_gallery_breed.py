"""Breeding from the gallery (neural_art.gallery, neural_art.lineage): tick networks
in headless Chromium, read the breed command the page shows, run it in-process and
follow the new children's lineage links back to their parents; the page's shell
quoting against shlex; the parents/children helpers."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from browser import CHROMIUM, Browser
from cli_harness import run_cli
from fixtures import TINY_BIGGAN

from neural_art import gallery
from neural_art import lineage as L

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")

# test_breed.py's sweep and breed settings (1 class, 1 latent, chunks of 2): the same
# compiled programs; in the order the CLI writes its flags back (biggan_jax.main.command)
BASE = [f"--weights={TINY_BIGGAN}", "--classes=volcano", "--truncation=0.5", "--chunk_size=2"]

JS_TICK = "document.querySelector('.net[data-seed=\"{}\"] input.pick').click()"
JS_TEXT = "document.getElementById({!r}).textContent"
JS_HIDDEN = "document.getElementById({!r}).className === 'hidden'"
JS_HREFS = "[...document.querySelectorAll('#{} a')].map(a => a.getAttribute('href'))"
# clicks a link in the detail view; the promise resolves once the page re-rendered
JS_FOLLOW = """new Promise(r => {{
  window.addEventListener("hashchange", () => r(document.querySelector("#detail h2").textContent), {{once: true}});
  document.querySelector('#{} a[href="#net={}"]').click(); }})"""


def test_parents_and_children_of_lineages():
    assert L.parents("17") == [] and L.parents(17) == []
    assert L.parents("17.4") == ["17"] and L.parents("17.4.2") == ["17.4"]
    assert L.parents("17.4x203") == ["17.4", "203"]
    assert L.parents("17.4x203.1") == ["17.4x203", "17.4", "203"]
    assert L.parents("17x(203.4).2") == ["17x(203.4)", "17", "203.4"]
    assert L.parents("3x3.1") == ["3x3", "3"]  # one parent once
    nets = [1, 2, "1.0", "1x2.0", "1x2.1", "2.3.1"]
    assert L.children(nets) == {"1": ["1.0", "1x2.0", "1x2.1"], "2": ["1x2.0", "1x2.1"], "1.0": [],
                                "1x2.0": [], "1x2.1": [], "2.3.1": []}  # fmt: skip


@needs_chromium
def test_page_quotes_as_shlex_and_shows_no_breeding_without_a_prefix(tmp_path):
    """A lineage with parentheses and a prefix with a space and a quote: the shown
    commands split back (shlex) into the argv; an empty prefix: no tick boxes."""
    nets = [{"seed": None, "thumb": "t.jpg", "images": [], "scores": {}, "command": ""}]
    nets += [{"seed": s, "thumb": "t.jpg", "images": [], "scores": {}, "command": "", "parents": [],
              "children": []} for s in (3, "17x(203.4)")]  # fmt: skip
    prefix = ["python", "-m", "biggan_jax", "--weights=my dir/it's.npz", f"--out_dir={tmp_path}"]
    with Browser() as b:
        url = gallery.write(tmp_path, title="t", settings={}, networks=nets, row_labels=[],
                            breed=shlex.join(prefix)).as_uri()  # fmt: skip
        b.load(url + "#sel=17x(203.4),3")
        shown = [b.evaluate(JS_TEXT.format(i)) for i in ("breed-command", "cross-command")]
        assert shown[0] == shlex.join([*prefix, "--mode=breed", "--parents=17x(203.4),3", "--children=16",
                                       "--beta=0.3"])  # fmt: skip
        assert shlex.split(shown[1])[len(prefix):] == ["--mode=breed", "--cross=17x(203.4):3",
                                                       "--children=16", "--beta=0.3"]  # fmt: skip
        b.evaluate("navigator.clipboard.writeText = t => Promise.reject(new Error('no'))")  # the fallback
        got = b.evaluate("copy($('cross-command'), $('copy-cross')).then(() => getSelection().toString())",
                         await_promise=True)  # fmt: skip
        assert got == shown[1]
        b.evaluate("window.wrote = []; navigator.clipboard.writeText = t => (wrote.push(t), Promise.resolve())")
        b.evaluate("document.getElementById('copy-breed').click()")
        assert b.evaluate("wrote") == [shown[0]] or b.evaluate("getSelection().toString()") == shown[0]
        gallery.write(tmp_path, title="t", settings={}, networks=nets, row_labels=[])
        assert b.dom(url + "#sel=3").count('class="pick"') == 0
        assert b.evaluate(JS_HIDDEN.format("breed"))


@needs_chromium
def test_tick_two_run_the_shown_command_then_follow_the_lineage(tmp_path):
    """Seeds 1-2; tick both by clicks; the page shows the exact --parents and --cross
    commands; the cross command, run, adds its children to the same gallery, whose
    detail views link a child to its parents and back (test_breed.py's two runs: its
    two compiled programs)."""
    out = tmp_path / "s"
    r = run_cli("biggan_jax", [*BASE, "--seeds=1-2", f"--out_dir={out}"])
    assert r.code == 0, r.err[-3000:]
    url = (out / "index.html").as_uri()
    prefix = ["python", "-m", "biggan_jax", *BASE, f"--out_dir={out}"]
    with Browser() as b:
        b.load(url)
        assert b.evaluate(JS_HIDDEN.format("breed-out"))  # nothing ticked: no command
        b.evaluate("$('children').value = '2'; $('children').dispatchEvent(new Event('input'))")
        for seed in (1, 2):
            b.evaluate(JS_TICK.format(seed))
        assert re.search(r"[#&]sel=1,2(&|$)", b.evaluate("location.hash"))  # in ticking order
        assert b.evaluate("document.querySelector('#detail').className") == "hidden"  # a tick is no click-through
        tail = ["--children=2", "--beta=0.3"]
        assert b.evaluate(JS_TEXT.format("breed-command")) == shlex.join([*prefix, "--mode=breed",
                                                                         "--parents=1,2", *tail])  # fmt: skip
        cross = b.evaluate(JS_TEXT.format("cross-command"))
        assert cross == shlex.join([*prefix, "--mode=breed", "--cross=1:2", *tail])
        b.evaluate(JS_TICK.format(2))  # untick: one parent, no cross
        assert b.evaluate(JS_TEXT.format("breed-command")).endswith(" --mode=breed --parents=1 --children=2 --beta=0.3")
        assert b.evaluate(JS_HIDDEN.format("cross-out"))

        argv = shlex.split(cross)
        assert argv[:3] == ["python", "-m", "biggan_jax"]
        r = run_cli("biggan_jax", argv[3:])
        assert r.code == 0, r.err[-3000:]

        d = b.dom(url)
        assert re.findall(r'class="net[^"]*" data-seed="([^"]+)"', d) == ["original", "1", "2", "1x2.0", "1x2.1"]
        b.load(url + "#net=1x2.1")
        assert b.evaluate(JS_HREFS.format("parents")) == ["#net=1", "#net=2"]  # the cross 1x2: no network here
        assert b.evaluate("document.querySelector('#parents .absent').textContent") == "1x2"
        assert b.evaluate(JS_FOLLOW.format("parents", "1"), await_promise=True) == "seed 1"
        assert b.evaluate(JS_HREFS.format("children")) == ["#net=1x2.0", "#net=1x2.1"]
        assert b.evaluate(JS_FOLLOW.format("children", "1x2.0"), await_promise=True) == "network 1x2.0"
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>',
                                (out / "index.html").read_text()).group(1))  # fmt: skip
    assert shlex.split(data["breed"]) == prefix and data["settings"]["breeding"]["beta"] == 0.3

"""How fast a big sweep's gallery opens: a synthetic 2,000-network manifest, its
``index.html`` rendered in headless Chromium from file://; the page records when
its first page was rendered (``performance.now()`` since navigation start).

    python benchmarks/gallery.py [--networks=2000] [--repeat=3]
"""

from __future__ import annotations

import argparse
import pathlib
import re
import statistics
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, dom  # noqa: E402

from neural_art import gallery  # noqa: E402


def build(out: pathlib.Path, n: int) -> pathlib.Path:
    rng = np.random.default_rng(0)
    thumb = gallery.thumbnail(out, "shared", [rng.integers(0, 256, (64, 64, 3), np.uint8)] * 2)
    nets = [{"seed": s, "thumb": thumb, "images": [f"images/seed_{s or 0:06d}/r{r}.png" for r in range(4)],
             "scores": {k: float(rng.random()) for k in ("departure", "colourfulness", "complexity", "diversity")},
             "command": f"python -m biggan_jax --seeds={s} --out_dir=x"} for s in [None, *range(n)]]  # fmt: skip
    return gallery.write(out, title=f"{n} networks", settings={"alpha": 0.35}, networks=nets,
                         row_labels=[f"row {r}" for r in range(4)])  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("chromium not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as d:
        page = build(pathlib.Path(d), a.networks)
        ms = []
        for sort in ["", "#sort=colourfulness&desc=1"] * a.repeat:
            html = dom(page.as_uri() + sort)
            ms.append(float(re.search(r'data-render-ms="([\d.]+)"', html).group(1)))
            assert html.count('class="net') == gallery.PAGE + 1
        size = page.stat().st_size
    print(f"| gallery, {a.networks} networks ({size / 1e6:.1f} MB index.html) | first page rendered "
          f"after {statistics.median(ms):.0f} ms (median of {len(ms)}; max {max(ms):.0f} ms) |")


if __name__ == "__main__":
    main()

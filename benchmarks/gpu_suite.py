"""Every benchmark in one run: ours, PyTorch eager and ``torch.compile`` side by side.

    python benchmarks/gpu_suite.py                  # on the GPU: sizes of BENCHMARKS.md, < 8 min
    OMP_NUM_THREADS=2 python benchmarks/gpu_suite.py --suite=cpu --repeats=3   # the CPU table, median of 3
    python benchmarks/gpu_suite.py --smoke --out=/tmp/suite.md     # by hand: every script, tiny, ~7 min

Each script runs in its own process (so one failure or hang costs only its own row,
under a per-script time limit) and prints its markdown table; this collects them,
headed with the date, device, versions and wall time, and writes them into
BENCHMARKS.md between ``<!-- suite:NAME -->`` markers (or into ``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

# suite -> [(title, script, args, time limit in s)]
SUITES = {
    "gpu": [  # BENCHMARKS.md sizes; the GPU goals in the titles
        (
            "BigGAN-deep-256 forward, batch 64 (goal 3,500 img/s fp32, 6,000 bf16)",
            "biggan_forward.py",
            ["--config=biggan-deep-256", "--batch=64", "--iters=20"],
            90,
        ),
        (
            "BigGAN-deep-256 eq.-2 sweep, 64 seeds x {1, 8} latents (goal 2,500 / 4,000 img/s, <= 16 GB)",
            "biggan_sweep.py",
            ["--config=biggan-deep-256", "--seeds=64", "--latents=1,8"],
            150,
        ),
        (
            "Gatys, VGG-19 512², Adam and L-BFGS (goal 300 it/s)",
            "style.py",
            ["--size=512", "--steps=100", "--ratios=8", "--optimizers=adam,lbfgs"],
            90,
        ),
        (
            "Gatys at print size, VGG-19 2048² and 4096²: compiled peak per plan, one Adam step vs PyTorch eager",
            "style_memory.py",
            ["--table_sizes=2048,4096,8192", "--time_sizes=2048,4096", "--devices=1", "--iters=5"],
            240,
        ),
        (
            "DCGAN train step, seed architecture, batch 128 (goal 170 steps/s)",
            "dcgan.py",
            ["--batch=128", "--iters=50"],
            60,
        ),
        (
            "featvis pixel class maximisation, VGG-16 224², 64 targets (goal 4,500 image-it/s)",
            "featvis.py",
            ["--size=224", "--targets=64", "--steps=100"],
            80,
        ),
    ],
    "cpu": [  # issue 10's CPU sizes, OMP_NUM_THREADS=2, PyTorch eager only
        (
            "BigGAN-deep-128 forward, batch 4",
            "biggan_forward.py",
            ["--config=biggan-deep-128", "--batch=4", "--iters=5", "--torch_modes=eager"],
            600,
        ),
        (
            "BigGAN-deep-128 eq.-2 sweep, 4 seeds x 4 latents",
            "biggan_sweep.py",
            ["--config=biggan-deep-128", "--seeds=4", "--latents=4", "--chunk=4", "--dtypes=float32"],
            900,
        ),
        (
            "Gatys Adam, VGG-19 128², 10 steps",
            "style.py",
            ["--size=128", "--steps=10", "--ratios=0", "--optimizers=adam", "--torch_modes=eager", "--repeat=3"],
            600,
        ),
        (
            "Gatys at print size, VGG-19 512²: compiled peak per plan, one Adam step vs PyTorch eager",
            "style_memory.py",
            ["--table_sizes=512,1024", "--time_sizes=512", "--devices=1"],
            900,
        ),
        (
            "featvis pixel, VGG-16 64², 8 targets, 10 steps",
            "featvis.py",
            ["--size=64", "--targets=8", "--steps=10", "--dtypes=float32", "--torch_modes=eager"],
            600,
        ),
        (
            "DCGAN train step, seed architecture, batch 32",
            "dcgan.py",
            ["--batch=32", "--iters=5", "--convt=subpixel", "--torch_modes=eager"],
            900,
        ),
    ],
}


SMOKE_ARGS = {  # PyTorch eager only and fp32 only: every script and its parity checks, by hand;
    # torch.compile (minutes of C++ compilation on CPU) and bf16 are exercised by the real suites
    "biggan_forward.py": ["--torch_modes=eager"],
    "biggan_sweep.py": ["--dtypes=float32"],
    "style.py": ["--torch_modes=eager"],
    "style_memory.py": ["--time_sizes=64"],
    "dcgan.py": ["--torch_modes=eager"],
    "featvis.py": ["--torch_modes=eager", "--dtypes=float32"],
}


def _smoke(suite):
    return [(t, s, ["--smoke", *SMOKE_ARGS.get(s, [])], 600) for t, s, _, _ in suite]


def _device() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if out.returncode == 0 and out.stdout.strip():
            return "GPU: " + out.stdout.strip().replace("\n", "; ")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"


# Run in a fresh interpreter by the suite (it never imports torch itself).
VERSIONS_CODE = (
    "import jax, sys; v=['jax '+jax.__version__]\n"
    "try:\n import torch; v.append('torch '+torch.__version__)\nexcept ImportError: pass\n"
    "print(', '.join(v) + ', Python ' + sys.version.split()[0])"
)


def _versions() -> str:
    r = subprocess.run([sys.executable, "-c", VERSIONS_CODE], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    return r.stdout.strip() or "versions unknown"


def run_script(script: str, args: list[str], limit: float) -> tuple[str, int | str, str]:
    """``python benchmarks/SCRIPT *args`` in its own process: ``(stdout, exit code or
    "timeout", stderr)``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env, cwd=ROOT)
        return r.stdout, r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out, "timeout", f"stopped after {limit:.0f} s"


def section(title: str, script: str, args: list[str], out: str, rc: int | str, err: str,
            seconds: float) -> str:  # fmt: skip
    """One script's markdown: its command line and time, its tables without the JSON
    lines, and a ``**FAILED**`` line with the last line of stderr if it failed."""
    body = "\n".join(line for line in out.splitlines() if not line.lstrip().startswith("{"))
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    head = f"#### {title}\n\n`python benchmarks/{script} {' '.join(args)}` — {seconds:.0f} s"
    if rc != 0:
        last = (err or "").strip().splitlines()[-1:] or ["no output"]
        head += f"\n\n**FAILED** (exit {rc}): {last[0][:300]}"
    return head + ("\n\n" + body if body else "") + "\n"


def run_one(title: str, script: str, args: list[str], limit: float) -> tuple[str, dict]:
    """One script's markdown (:func:`section`), or a failure row; and its ratios
    against PyTorch (:func:`ratios`)."""
    t0 = time.perf_counter()
    out, rc, err = run_script(script, args, limit)
    return section(title, script, args, out, rc, err, time.perf_counter() - t0), ratios(out)


THROUGHPUT = ("it/s", "image-it/s", "steps/s", "img/s")  # first one a row has is compared


def _row_ratios(rows: list[dict]) -> dict[str, float]:
    """Each PyTorch row against the best fp32 "ours" row of its group (the ours rows
    since the previous group; a sweep has one group per latent count, named by it)."""
    key = next((k for k in THROUGHPUT if k in rows[0]), None)
    out, group, fresh = {}, [], True
    for r in rows:
        impl = str(r["impl"])
        if impl.startswith("ours"):
            group = [] if not fresh else group
            fresh = True
            if "bf16" not in impl and "bfloat16" not in impl:
                group.append(r[key])
            continue
        fresh = False
        peer = "torch.compile" if "compile" in impl else "pytorch eager" if "pytorch" in impl else None
        if peer and group and r[key]:
            name = peer + (f" ({r['seeds x latents']})" if "seeds x latents" in r else "")
            out[name] = max(group) / r[key]
    return out


def _result_ratios(results: dict) -> dict[str, float]:
    def speed(r):
        return r.get("it_per_s") or r.get("img_it_per_s") if isinstance(r, dict) else None

    out = {}
    for name, r in results.items():  # "torch_eager/adam" vs "ours/adam"
        if name.startswith("torch_") and speed(r) and speed(results.get("ours/" + name.split("/")[1])):
            peer = "torch.compile" if name.startswith("torch_compile") else "pytorch eager"
            out.setdefault(peer, speed(results["ours/" + name.split("/")[1]]) / speed(r))
    return out


def ratios(stdout: str) -> dict[str, float]:
    """Ours (fp32) over each PyTorch peer, from the JSON line a script prints last."""
    for line in reversed(stdout.splitlines()):
        if line.lstrip().startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if data.get("rows"):
                return _row_ratios(data["rows"])
            if isinstance(data.get("results"), dict):
                return _result_ratios(data["results"])
    return {}


def summary(titles: list[str], runs: list[list[dict]]) -> str:
    """Per workload: ours/PyTorch in each repeat, and the median."""
    lines = ["| workload | peer | ratio per run | median |", "|---|---|---|---|"]
    for i, title in enumerate(titles):
        peers = sorted({p for run in runs for p in run[i]})
        for peer in peers:
            vals = [run[i][peer] for run in runs if peer in run[i]]
            cells = ", ".join(f"{v:.2f}×" for v in vals)
            lines.append(f"| {title} | {peer} | {cells} | **{statistics.median(vals):.2f}×** |")
    return "\n".join(lines) + "\n"


def write(text: str, name: str, out: pathlib.Path) -> None:
    start, end = f"<!-- suite:{name} -->", f"<!-- /suite:{name} -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    old = out.read_text() if out.exists() else ""
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) + 1 :]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + block
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--suite", choices=sorted(SUITES), default="gpu")
    ap.add_argument("--smoke", action="store_true", help="every script with --smoke (by hand; BENCHMARKS.md)")
    ap.add_argument("--only", default="", help="comma list of scripts to run (e.g. style.py)")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--repeats", type=int, default=1, help="rounds of the whole suite (median ratio)")
    a = ap.parse_args(argv)
    suite = SUITES[a.suite]
    if a.only:
        suite = [s for s in suite if s[1] in a.only.split(",")]
    if a.smoke:
        suite = _smoke(suite)
    name = a.suite + ("-smoke" if a.smoke else "")
    t0 = time.perf_counter()
    runs, parts = [], []
    for k in range(a.repeats):  # whole rounds, so a slow spell of the machine hits every row
        got = [run_one(*s) for s in suite]
        parts = [p for p, _ in got]
        runs.append([r for _, r in got])
    head = (
        f"### Suite `{name}`: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"{_device()} · {_versions()} · {a.repeats} round(s), {time.perf_counter() - t0:.0f} s in all\n"
    )
    text = head + "\nOurs (fp32) over PyTorch, same run:\n\n" + summary([s[0] for s in suite], runs)
    text += "\nTables of the last round:\n\n" + "\n".join(parts)
    write(text, name, pathlib.Path(a.out))
    print(text)
    return 0 if all("**FAILED**" not in p for p in parts) else 1


if __name__ == "__main__":
    sys.exit(main())

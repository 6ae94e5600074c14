r"""Style transfer at print size: the compiled style step's peak memory per plan,
one step's time per plan, and the largest size each memory fits.

    python benchmarks/style_memory.py --write            # peak table (compile only: cheap),
                                                         # 1 and 8 fake devices, into BENCHMARKS.md
    OMP_NUM_THREADS=2 python benchmarks/style_memory.py --table_sizes= --time_sizes=512,1024,2048
                                                         # step times, ours vs PyTorch eager (quiet machine)
    python benchmarks/style_memory.py --smoke            # tiny: width 8, 64 and 128 px

The step is one Adam step of Gatys's loss (content conv4_2, style conv1_1..conv5_1,
full-width random VGG-19, average pooling) exactly as ``python -m styletransfer``
compiles it (:func:`styletransfer.memory.step_peak`); peaks are its
``memory_analysis()`` per device, nothing is run for them. 8 devices are 8 fake
CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``, a child
process), the image's rows split over them (:mod:`styletransfer.shard`).
"The largest size that fits" extrapolates each column's leanest peak linearly
in pixels from its largest size (what :func:`styletransfer.memory.largest_side`
does before confirming by a compile) to 75% of 24 GB (this CPU's RAM), 80 GB
and 141 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = pathlib.Path(__file__).resolve().parents[1]
MARK = "<!-- style_memory -->"
MEMORIES_GB = {"24 GB CPU (this machine)": 24, "80 GB GPU": 80, "141 GB GPU (H200)": 141}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table_sizes", default="512,1024,2048,4096,8192", help="sides for the peak table")
    ap.add_argument("--plans", default="none,block,layer")
    ap.add_argument("--precisions", default="float32,bfloat16")
    ap.add_argument("--devices", default="1,8", help="device counts (8: fake CPU devices, a child process)")
    ap.add_argument("--time_sizes", default="", help="sides to time one step at (ours vs PyTorch eager)")
    ap.add_argument("--width", type=int, default=64, help="VGG width (64: the real network)")
    ap.add_argument("--iters", type=int, default=3, help="timed steps per size and plan")
    ap.add_argument("--no_torch", action="store_true")
    ap.add_argument("--write", action="store_true", help=f"write the tables into BENCHMARKS.md at {MARK}")
    ap.add_argument("--smoke", action="store_true", help="width 8, sizes 64,128, 1 device")
    ap.add_argument("--rows_json", action="store_true", help=argparse.SUPPRESS)  # the child's output
    args = ap.parse_args(argv)
    if args.smoke:
        args.width, args.table_sizes, args.devices = 8, "64,128", "1"
        args.time_sizes = args.time_sizes and "64"
    return args


def _net(width: int):
    from styletransfer import hub, transfer

    cfg, params = hub.load(f"random:vgg19:{width}" if width != 64 else "random:vgg19", head=False)
    return transfer.Net(cfg, params)


def peak_rows(args, devices: int) -> list[dict]:
    """Compiled peaks (GB per device) for every size x precision x plan on ``devices``."""
    from styletransfer import Settings, memory, shard

    net, mesh = _net(args.width), shard.mesh(devices)
    rows = []
    for side in _ints(args.table_sizes):
        for precision in args.precisions.split(","):
            s = Settings(optimizer="adam", precision=precision)
            row = {"size": f"{side}²", "precision": precision, "devices": devices}
            for plan in args.plans.split(","):
                t = time.perf_counter()
                peak = memory.step_peak(net, s, (side, side), plan, has_content=True, n_styles=1,
                                        mesh=mesh)  # fmt: skip
                row[plan] = round(peak / memory.GB, 3)
                print(f"{side} {precision} {devices} {plan}: {peak / memory.GB:.3f} GB "
                      f"({time.perf_counter() - t:.1f} s to compile)", file=sys.stderr, flush=True)  # fmt: skip
            rows.append(row)
    return rows


def _child_rows(args, devices: int) -> list[dict]:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "JAX_PLATFORMS": "cpu"}  # fmt: skip
    argv = [sys.executable, __file__, "--rows_json", f"--devices={devices}", f"--width={args.width}",
            f"--table_sizes={args.table_sizes}", f"--plans={args.plans}", f"--precisions={args.precisions}"]  # fmt: skip
    out = subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def largest(rows: list[dict], plans: list[str], fraction: float) -> list[dict]:
    """Per precision and device count: the largest square side whose leanest peak fits
    ``fraction`` of each memory, extrapolated linearly in pixels from the largest size."""
    out, seen = [], {}
    for r in rows:  # the last (largest) size of each column
        seen[(r["precision"], r["devices"])] = r
    for (precision, devices), r in seen.items():
        side, peak = int(r["size"].rstrip("²")), min(r[p] for p in plans)
        row = {"precision": precision, "devices": devices}
        for name, gb in MEMORIES_GB.items():
            row[name] = f"{int(side * math.sqrt(fraction * gb / peak)) // 16 * 16}²"
        out.append(row)
    return out


def _ours_step_s(net, side: int, plan: str, content, style, iters: int) -> float:
    """Seconds per Adam step of plan ``plan`` (the compiled step, run ``iters`` times)."""
    import jax

    from styletransfer import Settings, objective, optim

    s = Settings(optimizer="adam")
    ct, st = objective.targets(net, s, content, [style], None, (side, side))
    loss = objective.loss_fn(net.cfg, s, True, True, plan)
    opt = optim.make_optimizer("adam")
    a = (net.params, ct, st, objective.weights(s))
    step = optim.compile_step(loss, content, opt, project=objective.projection(s), loss_args=a,
                              has_aux=True)  # fmt: skip
    carry = optim.init_carry(opt, jax.numpy.asarray(content))
    carry = jax.block_until_ready(step(carry, a)[0])
    t = time.perf_counter()
    for _ in range(iters):
        carry = step(carry, a)[0]
    jax.block_until_ready(carry)
    return (time.perf_counter() - t) / iters


def time_rows(args) -> list[dict]:
    """One Adam step per plan (ours, after compilation) and PyTorch eager's, per size;
    rows ``{size, impl, s/step, it/s}`` (the suite's ratio reader takes ``impl``/``it/s``)."""
    import numpy as np

    from benchmarks.common import use_torch
    from benchmarks.style import bench_torch

    net, rows = _net(args.width), []
    rng = np.random.default_rng(0)
    torch = use_torch(args.no_torch)
    for side in _ints(args.time_sizes):
        content, style = (rng.uniform(size=(side, side, 3)).astype(np.float32) for _ in range(2))
        for plan in args.plans.split(","):
            sec = _ours_step_s(net, side, plan, content, style, args.iters)
            rows.append({"size": f"{side}²", "impl": f"ours (remat={plan})", "s/step": f"{sec:.3f}",
                         "it/s": round(1 / sec, 3)})  # fmt: skip
            print(rows[-1], file=sys.stderr, flush=True)
        if torch:
            row = {"size": f"{side}²", "impl": "pytorch eager"}
            try:
                r = bench_torch(net.params, net.cfg, content, style, args.iters, "adam", False)
                row.update({"s/step": f"{1 / r['it_per_s']:.3f}", "it/s": round(r["it_per_s"], 3)})
            except RuntimeError as e:  # out of memory is a result too
                row.update({"s/step": f"failed: {str(e).splitlines()[0][:60]}", "it/s": 0.0})
            rows.append(row)
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def write(text: str, path: pathlib.Path = ROOT / "BENCHMARKS.md") -> None:
    """Replaces the text between the two :data:`MARK` lines (appends them if absent)."""
    doc = path.read_text()
    if doc.count(MARK) < 2:
        doc = doc.rstrip("\n") + f"\n\n{MARK}\n{MARK}\n"
    head, _, rest = doc.partition(MARK)
    _, _, tail = rest.partition(MARK)
    path.write_text(f"{head}{MARK}\n{text.strip()}\n{MARK}{tail}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.rows_json:
        print(json.dumps(peak_rows(args, int(args.devices))))
        return 0
    from benchmarks.common import report
    from styletransfer import memory

    plans, text = args.plans.split(","), ""
    if args.table_sizes:
        rows = []
        for n in _ints(args.devices):
            import jax

            rows += peak_rows(args, n) if n == jax.device_count() else _child_rows(args, n)
        shown = [{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows]
        text += report("Style step: compiled peak GB per device, VGG-19 to conv5_1, Adam", shown)
        text += "\n" + report(f"Largest square side that fits {memory.DEFAULT_BUDGET_FRACTION:.0%} of "
                              "the memory (leanest plan, extrapolated)",
                              largest(rows, plans, memory.DEFAULT_BUDGET_FRACTION))  # fmt: skip
    if args.time_sizes:
        text += "\n" + report("Style step time, one Adam step, ours per plan vs PyTorch eager",
                              time_rows(args))  # fmt: skip (printed last: the suite reads its ratios)
    if args.write and text:
        write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end (issue 10 item 5): the sweep CLI's throughput vs compute alone.

    OMP_NUM_THREADS=2 JAX_PLATFORMS=cpu python benchmarks/biggan_cli.py            # 200 seeds x 2 classes
    python benchmarks/biggan_cli.py --seeds=2000 --chunk_size=256                    # GPU

Both sides use ``--weights`` (default ``random:biggan-deep-128:8``), the same
seeds, rows, chunk size and the same compiled program (a warm-up sweep compiles
it first, in this process):

* compute-only: :func:`biggan_jax.sweep_chunks` alone, its arrays consumed
  (copied to the host) and dropped;
* CLI: :func:`biggan_jax.experiment.run` -- what ``python -m biggan_jax`` calls
  after its flag checks: one PNG per image (worker threads), the grid pages, the
  manifest -- into a fresh directory each repeat.

Prints images/s of both per repeat (interleaved, so load changes hit both), the
medians and the ratio CLI / compute (goal >= 0.8), and the serial PNG encode
time of the same images for comparison.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import numpy as np

from benchmarks.common import report


def compute_only(job, cfg, params, z, y) -> float:
    from biggan_jax.sharded import sweep_chunks

    t = time.perf_counter()
    n = 0
    for _, imgs in sweep_chunks(cfg, params, list(job.seeds), z, y, job.truncation,
                                root=jax.random.key(job.root_seed), perturbation=job.perturbation,
                                dtype=job.precision, chunk_size=job.chunk_size):  # fmt: skip
        n += int(np.prod(imgs.shape[:2]))
    return n / (time.perf_counter() - t)


def cli(job) -> float:
    from biggan_jax import experiment

    with tempfile.TemporaryDirectory() as d:
        j = dataclasses.replace(job, out_dir=os.path.join(d, "sweep"))
        t = time.perf_counter()
        m = experiment.run(j, progress=False)
        dt = time.perf_counter() - t
    return len(m["seeds_done"]) * len(m["rows"]) / dt


def serial_encode_s(images: np.ndarray) -> float:
    from neural_art import images as imio

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        for i, im in enumerate(images.reshape(-1, *images.shape[-3:])):
            imio.save_image(os.path.join(d, f"{i}.png"), im)
        return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="random:biggan-deep-128:8")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--classes", default="volcano,espresso")
    ap.add_argument("--chunk_size", type=int, default=16)
    ap.add_argument("--writers", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    from biggan_jax import experiment, hub
    from neural_art.cli import use_compilation_cache

    use_compilation_cache()  # a second run skips the (slow, on a loaded CPU) compiles
    job = experiment.SweepJob(weights=a.weights, classes=tuple(a.classes.split(",")),
                              seeds=tuple(range(a.seeds)), out_dir="unused", truncation=0.5,
                              chunk_size=a.chunk_size, writers=a.writers)  # fmt: skip
    ids, _ = experiment.validate(job)
    cfg, params = hub.load(job.weights)
    z, y = experiment.latents(job, cfg, ids)
    t = time.perf_counter()
    warm = dataclasses.replace(job, seeds=job.seeds[: a.chunk_size])
    compute_only(warm, cfg, params, z, y)  # compiles the chunk program (and generate, below)
    cli(warm)
    compile_s = time.perf_counter() - t
    print(f"warm-up (compile) {compile_s:.0f} s", flush=True)
    from biggan_jax.sharded import sweep

    enc = serial_encode_s(sweep(cfg, params, list(range(a.chunk_size)), z, y, 0.5,
                                root=jax.random.key(0), chunk_size=a.chunk_size))  # fmt: skip
    rows, ratios = [], []
    for r in range(a.repeats):
        c, e = compute_only(job, cfg, params, z, y), cli(job)
        ratios.append(e / c)
        rows.append({"repeat": r, "compute-only img/s": c, "CLI img/s": e, "CLI / compute": round(e / c, 3)})
        print(rows[-1], flush=True)
    n_img = a.chunk_size * len(ids)
    report(
        f"BigGAN sweep CLI vs compute-only, {a.weights}, {a.seeds} seeds x {len(ids)} classes, "
        f"chunk {a.chunk_size}",
        rows,
        {
            "median compute-only img/s": round(statistics.median(r["compute-only img/s"] for r in rows), 2),
            "median CLI img/s": round(statistics.median(r["CLI img/s"] for r in rows), 2),
            "median ratio": round(statistics.median(ratios), 3),
            "serial PNG encode ms/image": round(1e3 * enc / n_img, 2),
            "PNG writer threads": ImageWriter(a.writers).workers,
            "warm-up (compile) s": round(compile_s, 1),
            "cpu count": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()

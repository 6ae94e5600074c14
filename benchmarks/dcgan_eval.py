r"""Cost of one in-training evaluation (dcgan/evaluate.py) relative to one train step.

    python benchmarks/dcgan_eval.py                          # embedded model's recipe, 64x64
    python benchmarks/dcgan_eval.py --num=64 --sizes=75,299 --iters=3

The train step is :func:`dcgan.steps.make_train_step` jitted (the embedded
model's config: widths 32, batch 64, 64x64); the evaluation is the Evaluator's
one compiled program (G on ``--num`` fixed latents, Inception pool3 features,
FID, KID, diversity, D's accuracy) with random Inception weights -- the same
arithmetic as the FID weights. Medians after warm-up (compile time excluded and
reported apart).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import numpy as np

from benchmarks.common import timeit
from dcgan import evaluate, steps
from dcgan.configs import skimage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=64, help="generated (and real) images per evaluation")
    ap.add_argument("--sizes", default="75,299", help="Inception input sizes")
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    c = skimage.get_config()
    mcfg = steps.model_config(c)
    state = jax.jit(lambda k: steps.init_state(c, k))(jax.random.key(0))
    real = jax.random.uniform(jax.random.key(1), (c.batch_size, 64, 64, 3), minval=-1, maxval=1)
    real_eval = np.asarray(jax.random.uniform(jax.random.key(3), (args.num, 64, 64, 3), minval=-1,
                                              maxval=1))  # fmt: skip
    step = jax.jit(steps.make_train_step(c), donate_argnums=0)
    box = {"s": state}

    def one():
        box["s"], m = step(box["s"], real, jax.random.key(2))
        return m["g_loss"]

    t_step, _ = timeit(one, warmup=1, iters=args.iters, sync=jax.block_until_ready)
    print(f"train step (batch {c.batch_size}, widths 32, 64x64): {t_step * 1e3:,.0f} ms")
    for size in map(int, args.sizes.split(",")):
        e = c.eval.copy_and_resolve_references()
        e.update(features="random-inception", num_real=args.num, num_fake=args.num, batch=16,
                 image_size=size, kid_subset_size=min(100, args.num))  # fmt: skip
        t0 = time.perf_counter()
        ev = evaluate.Evaluator(mcfg, e, real_eval, c.seed)
        g, d = box["s"]["g"], box["s"]["d"]
        jax.block_until_ready(ev(g, d))
        t_first = time.perf_counter() - t0
        t_eval, _ = timeit(lambda: ev(g, d), warmup=0, iters=args.iters, sync=jax.block_until_ready)
        print(f"eval {args.num} images at {size}px: {t_eval * 1e3:,.0f} ms = "
              f"{t_eval / t_step:.1f} train steps (set-up + first call incl. compiles: {t_first:.0f} s)")
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

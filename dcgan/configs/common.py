"""Defaults shared by the DCGAN configs (Beyers & Loane sec. 4)."""

import ml_collections
from neural_art.errors import UserError


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    # Seed architecture (sec. 3.2): see dcgan.model.SEED_64.
    c.model = ml_collections.ConfigDict(
        dict(
            nz=100, ngf=128, ndf=128, nc=3, resolution=64, g_act="leaky_relu", init="torch",
            head_bias=True, leak=0.2, bn_eps=1e-5, bn_momentum=0.1, convt_impl="subpixel",
            conv_impl="auto",
        )
    )  # fmt: skip
    c.data = ml_collections.ConfigDict(
        dict(
            source="folder", folder="", data_dir="", seed=0, min_pixels=128 * 128,
            shuffle_buffer=10_000, min_epoch_examples=1024,
        )
    )  # fmt: skip
    # Adam 1e-4, b1 .5, b2 .999, eps 1e-8; batch 128; z ~ N(0, 1) (sec. 4).
    c.lr = 1e-4
    c.b1 = 0.5
    c.b2 = 0.999
    c.eps = 1e-8
    c.batch_size = 128
    c.latent_dist = "normal"
    c.num_steps = 100_000
    c.log_every = 50
    c.sample_every = 1000
    c.num_samples = 128
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.nan_check_every = 50  # host syncs; the first bad step is tracked on device, exactly
    # Watching the run (dcgan.evaluate): every eval_every steps (0: never) FID/KID of
    # num_fake generated vs num_real real images, diversity and D's accuracy; alarms.
    # eval.features: "inception" (FID; offline: the cached vgg19 release's relu5_1 as
    # frechet_vgg19_relu5_1 / mmd_vgg19_relu5_1, else no feature statistics), "vgg19",
    # or "random-inception" (benchmarks only; named frechet_random_inception...).
    c.eval_every = 0
    c.eval = ml_collections.ConfigDict(
        dict(
            features="inception", seed=0, num_real=256, num_fake=256, batch=32, image_size=299,
            kid_subsets=10, kid_subset_size=100,
        )
    )  # fmt: skip
    c.alarms = ml_collections.ConfigDict(
        dict(diversity_fraction=0.5, d_win_accuracy=0.95, d_win_evals=3)
    )
    c.stop_on_collapse = False  # stop at an alarm; the last checkpoint that passed is named
    c.init_from = ""
    c.step_delay_s = 0.0  # sleep per step; only for preemption tests/demos
    return c


def quick(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies the config-file variant ``arg``: ``None``/``""`` (as is),
    ``"quick"`` -- a CPU smoke run (widths 8, 32x32, batch 16, 20 steps) -- or
    ``"tiny"`` -- the tests' config: ``quick`` at 16x16 with lr 1e-3 (one small
    train step program every test shares; 300 steps move G to flat-colour data),
    epochs of 1024 examples through a 256-example shuffle buffer (few epoch
    pipelines to build, little memory)."""
    if arg in ("quick", "tiny"):
        c.model.ngf = c.model.ndf = 8
        c.model.resolution = 32
        c.batch_size = 16
        c.num_steps = 20
        c.log_every = 5
        c.sample_every = 10
        c.checkpoint_every = 5
        c.num_samples = 16
        c.data.min_epoch_examples = 64
        c.eval_every = 10
        # a CPU smoke run: Inception at 75x75 (its smallest input; named *_75px), 64 images
        c.eval.update(num_real=64, num_fake=64, batch=16, image_size=75, kid_subset_size=32)
        if arg == "tiny":
            c.eval_every = 0
            c.model.resolution = 16
            c.lr = 1e-3
            c.data.min_epoch_examples = 1024
            c.data.shuffle_buffer = 256
    elif arg:
        raise UserError(f"unknown config variant {arg!r} (quick, tiny)")
    return c

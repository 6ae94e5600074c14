"""neural_art.walk: end points are θ* and eq. (2) exactly, with or without per-block α;
the spherical walk between two seeds keeps ‖ε‖ within 1% of one draw's; frames vmap;
every walk (toward a seed or between two) renders with one compiled program; lineage end
points (``--walk_between=17.4:203``) are the sweep's lineage networks exactly (weights)
and their images on the embedded DCGAN; ``--walk_between`` reaches BigGAN's walk job with
``--beta`` / ``--cross_by``."""

import shlex

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neural_art import blocks, lineage, perturb, walk


def _params():
    k = jax.random.split(jax.random.key(0), 3)
    return {"params": {"a": {"kernel": jax.random.normal(k[0], (64, 300))},
                       "b": {"bias": jax.random.normal(k[1], (777,))}},
            "batch_stats": {"mean": jax.random.normal(k[2], (5,))}}  # fmt: skip


def test_toward_end_points():
    p, key = _params(), jax.random.key(7)
    f0 = walk.toward(p, key, jnp.float32(0.0))
    jax.tree.map(np.testing.assert_array_equal, f0, p)
    f1 = walk.toward(p, key, jnp.float32(1.0), alpha=0.35)
    jax.tree.map(np.testing.assert_array_equal, f1, perturb.multiplicative(p, key, alpha=0.35))


def test_between_end_points_norm_and_vmap():
    p, ka, kb = _params(), jax.random.key(3), jax.random.key(17)
    for t, k in ((0.0, ka), (1.0, kb)):
        got = walk.between(p, ka, kb, jnp.float32(t))
        want = perturb.multiplicative(p, k, alpha=0.35)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), got, want)
    ts = walk.frames(9)
    norms = jax.vmap(lambda t: jnp.sqrt(sum(jnp.sum(e**2) for e in walk.mixed_noise(p, ka, kb, t).values())))(ts)
    one = float(norms[0])
    assert np.all(np.abs(np.asarray(norms) / one - 1) < 0.01), norms
    frames = jax.jit(jax.vmap(lambda t: walk.between(p, ka, kb, t)))(ts)
    assert frames["params"]["a"]["kernel"].shape == (9, 64, 300)
    np.testing.assert_array_equal(frames["batch_stats"]["mean"], np.broadcast_to(p["batch_stats"]["mean"], (9, 5)))


def test_per_block_alpha_end_points_are_the_sweeps():
    p, ka, kb, alphas = _params(), jax.random.key(3), jax.random.key(17), {"a": 0.0, "b": 0.6}
    sweep_a = blocks.multiplicative(p, ka, alphas, alpha=0.35)  # what the sweep's seed a is
    jax.tree.map(np.testing.assert_array_equal, walk.toward(p, ka, jnp.float32(1.0), alphas=alphas), sweep_a)
    jax.tree.map(np.testing.assert_array_equal, walk.between(p, ka, kb, jnp.float32(0.0), alphas=alphas), sweep_a)
    mid = walk.between(p, ka, kb, jnp.float32(0.5), alphas=alphas)
    np.testing.assert_array_equal(mid["params"]["a"]["kernel"], p["params"]["a"]["kernel"])  # α_a = 0
    assert not np.allclose(mid["params"]["b"]["bias"], p["params"]["b"]["bias"])


def test_renderer_one_program_for_every_walk():
    p, root, ts = _params(), jax.random.key(0), walk.frames(3)
    net = lambda q: q["params"]["b"]["bias"] * 2.0
    render = walk.renderer(net, alpha=0.35)
    to, mid = render(p, walk.Walk(4), root, ts), render(p, walk.Walk(4, 9), root, ts)
    assert render.program._cache_size() == 1
    k4, k9 = perturb.seed_key(root, 4), perturb.seed_key(root, 9)
    for i, t in enumerate(ts):
        np.testing.assert_allclose(to[i], net(walk.toward(p, k4, t)), rtol=1e-6)
        np.testing.assert_allclose(mid[i], net(walk.between(p, k4, k9, t)), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(to[0], net(p))


def test_pairs_and_plan():
    assert walk.parse_pairs(["3:17", " 0:2"]) == ((3, 17), (0, 2))
    assert walk.parse_pairs(["17.4:203", "17.4x203.1:5", "17x(203):007"]) == (
        ("17.4", 203), ("17.4x203.1", 5), ("17x203", 7))  # canonical strings, seeds as ints
    for bad in ("3-17", "17.4", "17..4:203", "17.4:", ":5", "17.4:203:5", "17.4:2147483648", "a:b"):
        with pytest.raises(ValueError, match="use A:B") as e:
            walk.parse_pairs(["0:1", bad])
        assert repr(bad) in str(e.value) and "\n" not in str(e.value), e.value
    with pytest.raises(ValueError, match="needs --mode=walk"):
        walk.parse_pairs(["3:17"], walk_mode=False)
    assert [w.name for w in walk.plan([7], [(3, 17)])] == ["seed_000007", "seed_3_to_17"]
    assert walk.command("python -m x --a=1", walk.Walk(3, 17), "out/w/") == (
        "python -m x --a=1 --walk_between=3:17 --out_dir=out/w_seed_3_to_17")
    walks = walk.plan([], walk.parse_pairs(["17.4:203", "17x(203.4):5"]))
    assert [w.name for w in walks] == ["net_17.4_to_203", "net_17x(203.4)_to_5"]
    for w in walks:  # the regenerate command parses back to the same walk; its out_dir is one path
        cmd = shlex.split(walk.command("python -m x", w, "o/w"))
        assert walk.plan([], walk.parse_pairs([cmd[-2].removeprefix("--walk_between=")])) == [w]
        assert cmd[-1] == f"--out_dir=o/w_{w.name}" and "/" not in w.name


def _stored(p, root, net, breeding, **kw):
    """The sweep's network ``net`` (:func:`neural_art.lineage.network`)."""
    return lineage.network(p, root, str(net), breeding, **kw)


@pytest.mark.parametrize("cross", ["mix", "blocks"])
def test_lineage_end_points_are_the_sweeps_exactly(cross):
    p, root = _params(), jax.random.key(5)
    br, alphas, ts = lineage.Breeding(beta=0.4, cross=cross), {"a": 0.5, "b": 0.2}, walk.frames(5)
    names = perturb.block_names(p)
    for pair in ("17.4:203", "17.4x203.1:5", "9:17x(9.2)", "17:17.4"):  # the last two: related ends
        w = walk.Walk(*walk.parse_pairs([pair])[0])
        keys, coefs = walk.inputs(w, root, ts, names, br, width=8)
        assert keys.shape == (8,) and coefs.shape == (5, 8, len(names))
        kw = dict(alpha=0.35, alphas=alphas)
        frame = lambda f: lineage.network_from(p, keys, jnp.asarray(coefs[f]), **kw)
        for f, end in ((0, w.a), (-1, w.b)):  # bit for bit: the coefficients are the lineage's there
            jax.tree.map(np.testing.assert_array_equal, frame(f), _stored(p, root, end, br, **kw))
        # every entry of ε(t) stays N(0, 1): per block, Σ_j (coefficients of one key)² = 1
        nodes, c64 = walk.weights(w, ts, names, br)
        for f in range(len(ts)):
            per_key = {}
            for d, c in zip(nodes, c64[f], strict=True):
                per_key[d] = per_key.get(d, 0.0) + c
            np.testing.assert_allclose(sum(v**2 for v in per_key.values()), 1.0, rtol=1e-12)
    # independent end points: exactly the cos/sin weights of two seeds
    w = walk.Walk("17.4", 203)
    _, c64 = walk.weights(w, ts, names, br)
    np.testing.assert_allclose(c64[:, -1, 0], np.sin(np.pi * np.asarray(ts) / 2), atol=1e-15)
    # toward a lineage: t·ε, θ* at t = 0
    keys, coefs = walk.inputs(walk.Walk("17.4"), root, ts, names, br, width=2)
    frame = lambda f: lineage.network_from(p, keys, jnp.asarray(coefs[f]))
    jax.tree.map(np.testing.assert_array_equal, frame(0), p)
    jax.tree.map(np.testing.assert_array_equal, frame(-1), _stored(p, root, "17.4", br))


def test_dcgan_walk_from_a_lineage_to_a_seed(tmp_path, monkeypatch):
    """``dcgan.grids.walk_dir`` (the embedded DCGAN, 2 latents, 3 frames): frame 0 is
    lineage 17.4's images computed directly (``lineage.network`` with default breeding,
    then G), the last frame seed 5's. To float tolerance, not bit for bit: the walk's
    program applies G vmapped over the frames (per-frame weights, a batched
    convolution), the direct one applies it to one network; the weights themselves are
    identical (test above)."""
    from dcgan import grids, hub
    from dcgan.model import generate, sample_latents

    got = {}
    real = grids.write_walks

    def keep(out, walks, render, **kw):
        return real(out, walks, lambda w: got.setdefault(w, np.asarray(render(w))), **kw)

    monkeypatch.setattr(grids, "write_walks", keep)
    man = grids.walk_dir(tmp_path, seeds=(), between=walk.parse_pairs(["17.4:5"]), n_latents=2,
                         frames=3, seed=0, gallery=False)  # fmt: skip
    [(w, frames)] = got.items()
    assert list(man["walks"]) == [w.name] == ["net_17.4_to_5"] and frames.shape == (3, 2, 64, 64, 3)
    assert man["settings"]["breeding"] == {"beta": 0.3, "cross": "mix", "t": 0.5}
    assert "--walk_between=17.4:5" in man["walks"][w.name]["command"]
    assert (tmp_path / "walks" / w.name / "frame_002.png").exists()
    cfg, params = hub.load(None)
    g, z = params["generator"], sample_latents(jax.random.key(0), 2, cfg.nz)  # walk_dir's, seed 0
    root = jax.random.key(1)  # the sweep's perturbation root at seed 0 (dcgan.perturbed.perturbation_root)
    net = lambda g, n: generate(cfg, _stored(g, root, n, lineage.Breeding(), alpha=0.35), z)
    direct = jax.jit(lambda g: [net(g, "17.4"), net(g, 5)])(g)
    np.testing.assert_allclose(frames[0], direct[0], atol=1e-6)
    np.testing.assert_allclose(frames[-1], direct[1], atol=1e-6)
    assert np.abs(frames[0] - frames[-1]).max() > 0.1  # two different networks


def test_biggan_walk_between_lineages_gets_the_breeding(tmp_path, monkeypatch):
    """``python -m biggan_jax --mode=walk --walk_between=17.4:203`` hands the walk job the
    lineage pair and ``--beta`` / ``--cross_by`` (the walk itself is stubbed: no compute);
    a malformed pair is one error line."""
    from biggan_jax import walks
    from cli_harness import assert_one_line_error, run_cli

    jobs = []
    monkeypatch.setattr(walks, "run", lambda job, **kw: jobs.append(job) or {"walks": {}})
    argv = ["--weights=random:biggan-deep-128:8", "--classes=volcano", "--mode=walk",
            f"--out_dir={tmp_path}/w"]  # fmt: skip
    r = run_cli("biggan_jax", [*argv, "--walk_between=17.4:203,17.4x203.1:5", "--beta=0.5",
                               "--cross_by=blocks"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    [job] = jobs
    assert job.between == (("17.4", 203), ("17.4x203.1", 5)) and job.sweep.seeds == ()
    assert job.breeding == lineage.Breeding(beta=0.5, cross="blocks")
    assert "--beta=0.5" in job.sweep.command and "--cross_by=blocks" in job.sweep.command
    bad = run_cli("biggan_jax", [*argv, "--walk_between=17.4:20x"])
    assert_one_line_error(bad, (2,), "--walk_between part '17.4:20x'")
    r = run_cli("biggan_jax", [*argv, "--seeds=3,3.1"])  # walks toward a seed and a lineage
    assert r.code == 0, r.err[-3000:]
    assert jobs[-1].sweep.seeds == (3, "3.1") and jobs[-1].between == ()
    bad = run_cli("biggan_jax", [*argv[:2], "--mode=replace", "--seeds=3.1", f"--out_dir={tmp_path}/r"])
    assert_one_line_error(bad, (2,), "lineages in --seeds are eq. (2) networks")


def test_frames_needs_two():
    with pytest.raises(ValueError, match="at least 2 frames"):
        walk.frames(1)

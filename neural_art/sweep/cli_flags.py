"""The flags every sweep CLI shares (``python -m biggan_jax``, ``python -m dcgan.sweep``)
and their checks, before any compute: networks (``--seeds`` with lineages,
``--mode=breed`` with ``--parents`` / ``--cross`` / ``--children`` / ``--beta`` /
``--cross_by``), eq. (2)'s per-block α (``--alpha_per_block`` / ``--blocks``),
chunking, the gallery and scores, several processes (``--multihost``).

A CLI calls :func:`define` while its module is imported (absl flags are global; they
are listed under the CLI's own name);
:class:`SweepFlags` holds the flags it got and turns them into checked values.
"""

from __future__ import annotations

import dataclasses
import math

from absl import flags

from neural_art import blocks, cli, lineage, scores, walk

flags.disclaim_key_flags()  # the flags define() makes belong to the CLI that calls it (its --helpfull section)


@dataclasses.dataclass(frozen=True)
class SweepFlags:
    """The shared flags' holders (:func:`define`)."""

    seeds: flags.FlagHolder
    alpha: flags.FlagHolder
    alpha_per_block: flags.FlagHolder
    blocks: flags.FlagHolder
    chunk_size: flags.FlagHolder
    grid_columns: flags.FlagHolder
    writers: flags.FlagHolder
    strategy: flags.FlagHolder
    group: flags.FlagHolder
    gallery: flags.FlagHolder
    score_with: flags.FlagHolder
    score_weights: flags.FlagHolder
    parents: flags.FlagHolder
    cross: flags.FlagHolder
    children: flags.FlagHolder
    beta: flags.FlagHolder
    cross_by: flags.FlagHolder
    multihost: flags.FlagHolder
    walk_between: flags.FlagHolder

    def check(self, breed: bool) -> tuple[tuple[int | str, ...], lineage.Breeding]:
        """The values alone (no model needed): ``(networks, breeding)``; with ``breed``
        the networks are the children of ``--parents`` / ``--cross``, else ``--seeds``."""
        for holder in (self.chunk_size, self.writers, self.group):
            if holder.value < 0:
                raise cli.UsageError(f"--{holder.name} must be >= 0, got {holder.value}")
        if self.grid_columns.value < 1:
            raise cli.UsageError(f"--grid_columns must be >= 1, got {self.grid_columns.value}")
        if not (math.isfinite(self.alpha.value) and self.alpha.value >= 0):
            raise cli.UsageError(f"--alpha must be finite and >= 0, got {self.alpha.value}")
        if self.alpha_per_block.value and self.blocks.value:
            raise cli.UsageError("--alpha_per_block and --blocks exclude each other")
        try:
            breeding = lineage.Breeding(beta=self.beta.value, cross=self.cross_by.value)
        except ValueError as e:
            raise cli.UsageError(f"--beta: {e}") from None
        if not breed:
            if self.parents.value or self.cross.value:
                raise cli.UsageError("--parents / --cross need --mode=breed")
            try:
                return tuple(lineage.network_id(s) for s in lineage.parse_networks(self.seeds.value)), breeding
            except ValueError as e:
                raise cli.UsageError(f"--seeds: {e}") from None
        return self.children_ids(), breeding

    def children_ids(self) -> tuple[int | str, ...]:
        """``--mode=breed``: the children of every ``--parents`` and ``--cross`` lineage."""
        if self.children.value < 1:
            raise cli.UsageError(f"--children must be >= 1, got {self.children.value}")
        try:
            parents = lineage.parse_list(self.parents.value) if self.parents.value else []
            for pair in self.cross.value:
                a, sep, b = pair.partition(":")
                if not sep:
                    raise cli.UsageError(f"--cross part {pair!r}: use LINEAGE:LINEAGE, e.g. 17:203.4")
                parents.append(lineage.Cross(lineage.parse(a), lineage.parse(b)))
        except ValueError as e:
            raise cli.UsageError(f"--parents / --cross: {e}") from None
        if not parents:
            raise cli.UsageError("--mode=breed needs --parents and/or --cross")
        return tuple(lineage.network_id(lineage.Child(p, c)) for p in parents for c in range(self.children.value))

    def walk_pairs(self, walk_mode: bool) -> tuple:
        """``--walk_between``'s pairs (refused without ``walk_mode``)."""
        try:
            return walk.parse_pairs(self.walk_between.value, walk_mode=walk_mode)
        except ValueError as e:
            raise cli.UsageError(str(e)) from None

    def block_alphas(self, names) -> tuple[tuple[str, float], ...]:
        """``--alpha_per_block`` / ``--blocks`` against the model's block names."""
        try:
            if self.blocks.value:
                return tuple(blocks.only(self.blocks.value, names, self.alpha.value).items())
            return tuple(blocks.parse_alphas(self.alpha_per_block.value, names).items())
        except ValueError as e:
            raise cli.UsageError(str(e)) from None

    def base_alpha(self) -> float:
        """Eq. (2)'s α for unlisted blocks (0 under ``--blocks``: only those blocks move)."""
        return 0.0 if self.blocks.value else self.alpha.value

    def job_kwargs(self) -> dict:
        """The :class:`neural_art.sweep.driver.Job` fields these flags set."""
        return dict(chunk_size=self.chunk_size.value or None, grid_columns=self.grid_columns.value,
                    writers=self.writers.value, strategy=None if self.strategy.value == "auto" else self.strategy.value,
                    group=self.group.value or None, gallery=self.gallery.value, score_with=self.score_with.value,
                    score_weights=self.score_weights.value)  # fmt: skip


SKIP_IN_COMMAND = ("seeds", "walk_between", "out_dir", "parents", "cross", "children")


def define(*, seeds: str, alpha: float = 0.35, blocks_example: str = "B3,B5-B7",
           per_block_example: str = "B1:0,B2:0.5,B5-B13:0.2") -> SweepFlags:  # fmt: skip
    """Defines the shared flags (call at a CLI module's import); ``seeds``: ``--seeds``'
    default; the examples name the model's blocks in the help."""
    return SweepFlags(
        seeds=cli.define_seeds(seeds, "Networks: seeds as inclusive ranges (e.g. '0-10,15') and/or "
                               "lineages (e.g. '17.4,17.4x203.1'; neural_art.lineage)."),
        alpha=flags.DEFINE_float("alpha", alpha, "eq. (2) scale: θ = θ*(1 + α ε), finite, >= 0."),
        alpha_per_block=flags.DEFINE_string("alpha_per_block", "", f"eq. (2) α per block, e.g. {per_block_example}."),
        blocks=flags.DEFINE_string("blocks", "", f"eq. (2) on these blocks only, e.g. {blocks_example} (α 0 elsewhere)."),
        chunk_size=cli.define_chunk_size(0, "Networks per compiled chunk over all devices (0: fit memory)."),
        grid_columns=flags.DEFINE_integer("grid_columns", 12, "Networks per grid page."),
        writers=flags.DEFINE_integer("writers", 0, "PNG encoder threads (0: one per CPU, at most 16)."),
        strategy=flags.DEFINE_enum("strategy", "auto", ["auto", "map", "vmap", "hybrid"],
                                   "How a device walks its networks (auto: the measured default; in the manifest)."),
        group=flags.DEFINE_integer("group", 0, "Networks vmapped together by vmap/hybrid (0: default)."),
        gallery=flags.DEFINE_bool("gallery", True, "Write index.html + thumbnails + scores.json, rewritten per chunk."),
        score_with=flags.DEFINE_string("score_with", "", scores.SCORE_WITH_HELP),
        score_weights=flags.DEFINE_string("score_weights", "", scores.SCORE_WEIGHTS_HELP),
        parents=flags.DEFINE_list("parents", [], "--mode=breed: lineages to breed from, e.g. 17,203.4."),
        cross=flags.DEFINE_list("cross", [], "--mode=breed: pairs a:b of lineages to cross, e.g. 17:203.4."),
        children=flags.DEFINE_integer("children", 8, "--mode=breed: children of each parent and cross."),
        beta=flags.DEFINE_float("beta", 0.3, "How far a child strays from its parent, in [0, 1] (lineages)."),
        cross_by=flags.DEFINE_enum("cross_by", "mix", ["mix", "blocks"], "A cross's noise: the parents' "
                                   "spherical mixture, or each block's from one parent (lineages)."),
        multihost=flags.DEFINE_bool("multihost", False, "jax.distributed.initialize(): TPU pod slice, SLURM, or "
                                    "JAX_COORDINATOR_ADDRESS + JAX_NUM_PROCESSES + JAX_PROCESS_ID."),
        walk_between=flags.DEFINE_list("walk_between", [], "--mode=walk: pairs a:b of networks (seeds or "
                                       "lineages) to walk between (without --seeds: these walks only)."),
    )  # fmt: skip

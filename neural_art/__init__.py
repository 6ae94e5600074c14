"""neural-art-jax's shared core: imports no model package.

* :mod:`neural_art.images` -- reading input images, the one image/grid writer.
* :mod:`neural_art.imagenet` -- ImageNet class names and class vectors.
* :mod:`neural_art.perturb` -- Janik's eq. (2)/(3) over any params pytree.
* :mod:`neural_art.fetch` / :mod:`neural_art.store` / :mod:`neural_art.hub` --
  download cache, converted-weights store, the ``--weights`` grammar.
* :mod:`neural_art.ranges` -- ``"0-10,15"`` ranges for seeds and targets.
* :mod:`neural_art.plots` -- loss curves. :mod:`neural_art.atomic` -- atomic writes.
* :mod:`neural_art.cli` -- the common flags and the one error path.
* :mod:`neural_art.optim` -- the one optimisation loop (style transfer, featvis);
  :mod:`neural_art.optimizers` -- optimisers named by their settings.
"""

from neural_art import atomic, fetch, hub, imagenet, images, perturb, plots, ranges, store

__all__ = ["atomic", "fetch", "hub", "imagenet", "images", "perturb", "plots", "ranges", "store"]

"""CLI: ``python -m featvis`` — activation maximisation, many targets per compiled program.

    # 8 ImageNet classes with Fourier parameterisation on VGG-16 (torchvision weights):
    python -m featvis --weights=vgg16 --targets="mosque,candle,0-5" --method=fft --steps=512
    # any list of layer:channel ranges
    python -m featvis --weights=vgg16 --targets="relu4_2:0-63" --method=fft --size=128
    # Despraz et al., no pretraining / pretrained decoder (Table 1 settings):
    python -m featvis --weights=vgg16 --targets=668 --method=despraz --steps=500
    python -m featvis --weights=vgg16 --targets="ostrich+bullfrog" --method=despraz-pretrained \
        --decoder=ae/decoder.npz
    # CPU smoke with random weights and a small image:
    python -m featvis --weights=random --targets=0-3,relu3_1:0-1 --method=pixel --size=32 --steps=20

A ``--size`` past the device's memory (one step of one target) is refused in one line
(exit 2) naming the largest side that fits, from the step compiled at small sides
(:func:`featvis.app.check_size`), before any compute or output.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from featvis import app as fvapp
from neural_art import capacity, cli

flags.DEFINE_enum("model", "vgg16", ["vgg16", "vgg19", "dcgan-d", "toy"],
                  "Feature extractor (dcgan-d: a DCGAN discriminator, class 0 = its logit).")  # fmt: skip
cli.define_weights(
    None,
    "For vgg models styletransfer.vgg.load's: a release (vgg16, vgg19: torchvision's; "
    "vgg16-caffe, vgg19-caffe: the Oxford Caffe models; vgg19-gatys: Gatys et al.'s, conv "
    "layers only, no class targets) / a converted dir / a .pth / random (random weights of "
    "--model) / random:vgg16[:W]; default: the --model release. "
    "For --model=dcgan-d dcgan.load's (default: the embedded model). Ignored for --model=toy.",
)  # fmt: skip
flags.DEFINE_string("targets", "0", "Comma list: class ids, names, ranges a-b, compounds a+b, "
                    "layer:channel(s) with a channel id or range.")  # fmt: skip
flags.DEFINE_enum("method", "fft", list(fvapp.METHODS), "Method.")
flags.DEFINE_enum("objective", "auto", list(fvapp.OBJECTIVES),
                  "Class objective (auto: Despraz eq. 2 for despraz methods, logit otherwise); "
                  "filter targets use channel means unless 'neuron'.")  # fmt: skip
flags.DEFINE_string("decoder", None, "decoder.npz written by featvis.train_autoencoder "
                    "into its --out_dir (for --method=despraz-pretrained).")  # fmt: skip
flags.DEFINE_integer("size", 224, "Image side (Despraz: 224 only).", lower_bound=1)
cli.define_steps(256)
flags.DEFINE_list("thresholds", [], "Extra snapshot steps (the last step is always saved).")
flags.DEFINE_enum("optimizer", "default", list(fvapp.OPTIMIZERS),
                  "default: adam (pixel/fft), Table 1 (despraz).")  # fmt: skip
cli.define_learning_rate(None, "Learning rate (default per method).")
flags.DEFINE_enum("transforms", "default", list(fvapp.TRANSFORMS),
                  "default: lucid's standard set for fft, none otherwise.")  # fmt: skip
cli.define_chunk_size(16, "Targets per vmapped compiled call.")
cli.define_seed(0, "Root seed; target i uses fold_in(key(seed), i).")
cli.define_out_dir("featvis_out", "Output directory (grid.png + one PNG per target).")
FLAGS = flags.FLAGS


def settings_from_flags() -> fvapp.Settings:
    try:
        thresholds = tuple(int(t) for t in FLAGS.thresholds)
    except ValueError as e:
        raise cli.UsageError(f"--thresholds must be integers: {FLAGS.thresholds}") from e
    s = fvapp.Settings(
        method=FLAGS.method, size=FLAGS.size, steps=FLAGS.steps, thresholds=thresholds,
        optimizer=FLAGS.optimizer, learning_rate=FLAGS.learning_rate, transforms=FLAGS.transforms,
        objective=FLAGS.objective, chunk_size=FLAGS.chunk_size, seed=FLAGS.seed,
    )  # fmt: skip
    if s.method == "despraz-pretrained" and not FLAGS.decoder:
        raise cli.UsageError("--method=despraz-pretrained needs --decoder (featvis.train_autoencoder)")
    try:
        fvapp.check_settings(s, has_decoder=bool(FLAGS.decoder))
    except ValueError as e:
        raise cli.UsageError(str(e)) from e
    return s


def load_model(targets):
    """``(model, num_classes, targets)`` for --model/--weights (bad --weights: UsageError)."""
    from featvis import models

    if FLAGS.model == "toy":
        return models.toy(), 10, targets
    try:
        if FLAGS.model == "dcgan-d":
            model = models.dcgan_discriminator(FLAGS.weights)
            # ImageNet names mean nothing here: class 0 is D's logit
            targets = [dataclasses.replace(t, label="D logit (real)") if t.layer is None else t
                       for t in targets]  # fmt: skip
            return model, 1, targets
        layers = {t.layer or "fc8" for t in targets}
        return models.vgg(models.vgg_weights(FLAGS.weights, FLAGS.model), layers), 1000, targets
    except (ValueError, OSError) as e:
        raise cli.UsageError(f"--weights: {e}") from e


def main(argv):
    del argv
    try:  # every check that needs no compute, before any weights load
        targets = fvapp.parse_targets(FLAGS.targets)
    except ValueError as e:
        raise cli.UsageError(f"--targets: {e}") from e
    settings = settings_from_flags()
    out_dir = cli.check_out_dir(FLAGS.out_dir)
    from featvis import autoencoder

    try:
        decoder = autoencoder.load_decoder(FLAGS.decoder) if FLAGS.decoder else None
    except (OSError, ValueError) as e:
        raise cli.UsageError(f"--decoder: {e}") from e
    model, num_classes, targets = load_model(targets)
    try:
        fvapp.check_targets(model, targets, settings.size, num_classes)
    except ValueError as e:
        raise cli.UsageError(f"--targets: {e}") from e
    from tqdm import tqdm

    bars = []  # made at the first report: a --size refused by visualise's plan prints no bar

    def progress(done, total):
        bars or bars.append(tqdm(total=total, unit="target"))
        bars[0].update(done - bars[0].n)

    try:  # --size past the device's memory: refused from the plan at small sides, before compute
        out = fvapp.visualise(model, targets, settings, decoder=decoder, num_classes=num_classes,
                              out_dir=out_dir, progress=progress)  # fmt: skip
    except capacity.TooLarge as e:
        raise cli.UsageError(str(e)) from None
    finally:
        for bar in bars:
            bar.close()
    print(f"{len(out['labels'])} targets -> {out_dir}/grid.png")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()

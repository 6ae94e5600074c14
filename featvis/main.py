"""CLI: ``python -m featvis`` — activation maximisation, many targets per compiled program.

    # 8 ImageNet classes with Fourier parameterisation on VGG-16 (torchvision weights):
    python -m featvis --weights=vgg16 --targets="mosque,candle,0-5" --method=fft --steps=512
    # every 4th filter... any list: layer:channel and ranges
    python -m featvis --weights=vgg16 --targets="relu4_2:0-63" --method=fft --size=128
    # Despraz et al., no pretraining / pretrained decoder (Table 1 settings):
    python -m featvis --weights=vgg16 --targets=668 --method=despraz --steps=500
    python -m featvis --weights=vgg16 --targets="ostrich+bullfrog" --method=despraz-pretrained \
        --decoder=decoder.npz
    # CPU smoke with random weights and a small image:
    python -m featvis --weights=random --targets=0-3,relu3_1:0-1 --method=pixel --size=32 --steps=20
"""

import dataclasses

from absl import app, flags

flags.DEFINE_enum("model", "vgg16", ["vgg16", "vgg19", "dcgan-d", "toy"],
                 "Feature extractor (dcgan-d: a DCGAN discriminator, class 0 = its logit).")  # fmt: skip
flags.DEFINE_string(
    "weights", None,
    "styletransfer.vgg.load name or path: vgg16 / vgg19 / a converted dir / a .pth / "
    "random (random weights of --model) / random:vgg16. Default: the --model release. "
    "For --model=dcgan-d: an exported DCGAN dir (default: the embedded model). "
    "Ignored for --model=toy.",
)  # fmt: skip
flags.DEFINE_string(
    "targets", "0", "Comma list: class ids, names, ranges a-b, compounds a+b, layer:channel(s)."
)
flags.DEFINE_enum("method", "fft", ["pixel", "fft", "despraz", "despraz-pretrained"], "Method.")
flags.DEFINE_enum("objective", "auto", ["auto", "logit", "despraz", "neuron", "channel"],
                  "Class objective (auto: Despraz eq. 2 for despraz methods, logit otherwise); "
                  "filter targets use channel means unless 'neuron'.")  # fmt: skip
flags.DEFINE_string("decoder", None, "Decoder .npz from featvis.train_autoencoder (pretrained).")
flags.DEFINE_integer("size", 224, "Image side (Despraz: 224 only).")
flags.DEFINE_integer("steps", 256, "Optimisation steps.")
flags.DEFINE_list("thresholds", [], "Extra snapshot steps (the last step is always saved).")
flags.DEFINE_enum("optimizer", "default", ["default", "adam", "adamax", "sgd"],
                  "default: adam (pixel/fft), Table 1 (despraz).")  # fmt: skip
flags.DEFINE_float("lr", None, "Learning rate (default per method).")
flags.DEFINE_enum("transforms", "default", ["default", "standard", "none"],
                  "default: lucid's standard set for fft, none otherwise.")  # fmt: skip
flags.DEFINE_integer("chunk", 16, "Targets per vmapped compiled call.")
flags.DEFINE_integer("seed", 0, "Root seed; target i uses fold_in(key(seed), i).")
flags.DEFINE_string("output", "featvis_out", "Output directory (grid.png + one PNG per target).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tqdm import tqdm

    from featvis import app as fvapp
    from featvis import autoencoder, models

    # flag and target errors first: before any weights are loaded
    try:
        targets = fvapp.parse_targets(FLAGS.targets)
    except ValueError as e:
        raise app.UsageError(f"--targets: {e}") from e
    try:
        thresholds = [int(t) for t in FLAGS.thresholds]
    except ValueError as e:
        raise app.UsageError(f"--thresholds must be integers: {FLAGS.thresholds}") from e
    if FLAGS.steps < 1 or any(not 0 < t <= FLAGS.steps for t in thresholds):
        raise app.UsageError(f"--steps must be >= 1 and --thresholds in 1..{FLAGS.steps}")
    if FLAGS.method.startswith("despraz") and FLAGS.size != 224:
        raise app.UsageError("Despraz's generator is 224x224 by design: use --size=224")
    if FLAGS.method == "despraz-pretrained" and not FLAGS.decoder:
        raise app.UsageError(
            "--method=despraz-pretrained needs --decoder (featvis.train_autoencoder)"
        )
    try:
        decoder = autoencoder.load_decoder(FLAGS.decoder) if FLAGS.decoder else None
    except (OSError, ValueError) as e:
        raise app.UsageError(f"--decoder: {e}") from e
    obj_layers = {t.layer for t in targets if t.layer} | (
        {"fc8"} if any(t.layer is None for t in targets) else set()
    )
    if FLAGS.model == "toy":
        model, num_classes = models.toy(), 10
    elif FLAGS.model == "dcgan-d":  # --weights: exported DCGAN dir (default: the embedded model)
        try:
            model = models.dcgan_discriminator(FLAGS.weights)
        except (ValueError, OSError) as e:
            raise app.UsageError(f"--weights: {e}") from e
        num_classes = 1
        targets = [  # ImageNet names mean nothing here: class 0 is D's logit
            dataclasses.replace(t, label="D logit (real)") if t.layer is None else t
            for t in targets
        ]
    else:
        weights = FLAGS.weights or FLAGS.model
        if weights == "random":  # random weights of the --model architecture
            weights = f"random:{FLAGS.model}"
        try:
            model = models.vgg(weights, obj_layers)
        except (ValueError, OSError) as e:
            raise app.UsageError(f"--weights: {e}") from e
        num_classes = 1000
    bar = tqdm(total=len(targets), unit="target")

    def progress(done, total):
        bar.update(done - bar.n)

    try:
        out = fvapp.visualise(
            model, targets, method=FLAGS.method, size=FLAGS.size, steps=FLAGS.steps,
            thresholds=thresholds, optimizer=FLAGS.optimizer, lr=FLAGS.lr,
            transforms=FLAGS.transforms, objective=FLAGS.objective, decoder=decoder,
            num_classes=num_classes, chunk=FLAGS.chunk, seed=FLAGS.seed, output=FLAGS.output,
            progress=progress,
        )  # fmt: skip
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    finally:
        bar.close()
    print(f"{len(out['labels'])} targets -> {FLAGS.output}/grid.png")


if __name__ == "__main__":
    app.run(main)

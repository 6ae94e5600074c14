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
    python -m featvis --weights=random:vgg16 --targets=0-3 --method=pixel --size=32 --steps=20
"""

from absl import app, flags

flags.DEFINE_enum("model", "vgg16", ["vgg16", "vgg19", "toy"], "Feature extractor.")
flags.DEFINE_string(
    "weights", None,
    "styletransfer.vgg.load name or path: vgg16 / vgg19 / a converted dir / a .pth / "
    "random:vgg16. Default: the --model release. Ignored for --model=toy.",
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
    from featvis import autoencoder, models, objectives

    targets = fvapp.parse_targets(FLAGS.targets)
    obj_layers = {t.layer for t in targets if t.layer} | (
        {"fc8"} if any(t.layer is None for t in targets) else set()
    )
    if FLAGS.model == "toy":
        model, num_classes = models.toy(), 10
    else:
        model = models.vgg(FLAGS.weights or FLAGS.model, obj_layers)
        num_classes = 1000
    del objectives
    decoder = autoencoder.load_decoder(FLAGS.decoder) if FLAGS.decoder else None
    bar = tqdm(total=len(targets), unit="target")

    def progress(done, total):
        bar.update(done - bar.n)

    out = fvapp.visualise(
        model, targets, method=FLAGS.method, size=FLAGS.size, steps=FLAGS.steps,
        thresholds=[int(t) for t in FLAGS.thresholds], optimizer=FLAGS.optimizer, lr=FLAGS.lr,
        transforms=FLAGS.transforms, objective=FLAGS.objective, decoder=decoder,
        num_classes=num_classes, chunk=FLAGS.chunk, seed=FLAGS.seed, output=FLAGS.output,
        progress=progress,
    )  # fmt: skip
    bar.close()
    print(f"{len(out['labels'])} targets -> {FLAGS.output}/grid.png")


if __name__ == "__main__":
    app.run(main)

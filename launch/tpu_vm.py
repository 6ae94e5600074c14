"""Run a sweep (or DCGAN training) on a Cloud TPU VM: one host or a pod slice.

Every step is a ``gcloud`` command; ``--dry_run`` prints them all and runs
nothing. The script is idempotent: the VM is created only if ``describe`` says
it does not exist, unpacking and ``pip install`` can be repeated, and the sweep
itself resumes (images already written are skipped).

    python -m launch.tpu_vm --name=art --zone=us-central2-b --accelerator_type=v4-8 \
        --dry_run -- --weights=biggan-deep-256 --seeds=0-999 --classes=stupa,volcano
    # pod slice: all workers run the same command; JAX forms one mesh over all hosts
    python -m launch.tpu_vm --name=art-pod --accelerator_type=v4-32 --out_bucket=gs://my-bucket/sweeps \
        -- --weights=biggan-deep-256 --seeds=0-9999

Arguments after ``--`` go to ``python -m biggan_jax`` (or, with
``--job=dcgan``, to ``python -m dcgan.main``, which is data-parallel over one
host's devices: the script refuses multi-host slices for it).

Weights reach every worker before the sweep starts (:func:`weights_plan`): a
release (``--weights=biggan-deep-256``, the sweep's default) is downloaded,
verified and converted once on each worker, into its cache (the install adds the
``convert`` extra with a CPU-only torch); a directory converted on this machine
(``python -m weights_convert.biggan --src=... --out_dir=DIR``, then
``--weights=DIR``) is packed, copied to every worker with the code, and the job
reads that copy. On a pod slice the workers form one JAX mesh and worker 0
writes the whole output directory (:mod:`neural_art.sweep.multihost`), so the bucket
copy is worker 0's.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import shlex
import subprocess
import sys

from absl import flags

from biggan_jax import hub
from neural_art import cli
from neural_art.errors import UserError

_NAME = flags.DEFINE_string("name", None, "TPU VM name.")
_ZONE = flags.DEFINE_string("zone", "us-central2-b", "Zone.")
_PROJECT = flags.DEFINE_string("project", None, "GCP project (default: gcloud's).")
_TYPE = flags.DEFINE_string(
    "accelerator_type", "v4-8", "e.g. v4-8 (one host), v4-32 (pod slice), v5litepod-16."
)
_VERSION = flags.DEFINE_string("version", "tpu-ubuntu2204-base", "TPU VM software version.")
_SPOT = flags.DEFINE_bool("spot", False, "Create a Spot VM.")
_JOB = flags.DEFINE_enum("job", "sweep", ["sweep", "dcgan"], "What to run.")
_OUT = cli.define_out_dir("neural-art-out", "Output dir on every worker, relative to its home.")
_MULTI = flags.DEFINE_bool(
    "multihost", None, "Force (or forbid) jax.distributed.initialize(); default: from the type."
)
_BUCKET = flags.DEFINE_string(
    "out_bucket", None, "gs:// prefix to rsync every worker's outputs to."
)
_DELETE = flags.DEFINE_bool("delete_after", False, "Delete the VM when the job is done.")
_DRY = flags.DEFINE_bool("dry_run", False, "Print every command; run nothing.")

PKG = "/tmp/neural-art-jax.tar.gz"
TORCH_CPU = "https://download.pytorch.org/whl/cpu"  # torch for the convert extra, without CUDA


@dataclasses.dataclass(frozen=True)
class WeightsPlan:
    """How the job's weights reach the workers. ``convert``: install the convert
    extra and convert this release on each worker; ``pack``: a local converted
    directory shipped as ``~/weights/<name>``; ``job_weights``: the job's
    ``--weights`` on the workers (None: as given)."""

    convert: str | None = None
    pack: pathlib.Path | None = None
    job_weights: str | None = None


def job_weights(argv_job: list[str]) -> tuple[str, list[str]]:
    """The sweep's ``--weights`` (its default, ``biggan-deep-256``, when absent) and
    the other arguments."""
    value, rest, it = hub.DEFAULT_CONFIG, [], iter(argv_job)  # = python -m biggan_jax's default
    for a in it:
        if a.startswith("--weights="):
            value = a.split("=", 1)[1]
        elif a == "--weights":
            value = next(it, value)
        else:
            rest.append(a)
    return value, rest


def weights_plan(weights: str) -> WeightsPlan:
    """A release: converted on each worker (once; later runs read its cache). A local
    converted directory: copied. Random weights: nothing. A raw checkpoint: refused
    (convert it here first, then pass the directory)."""
    try:
        ws = hub.parse(weights)
    except ValueError as e:
        raise cli.UsageError(f"--weights: {e}") from None
    if ws.kind == "release":
        return WeightsPlan(convert=weights)
    if ws.kind == "dir":
        local = pathlib.Path(weights).resolve()
        return WeightsPlan(pack=local, job_weights=f"weights/{local.name}")
    if ws.kind == "file":
        raise cli.UsageError(
            f"--weights={weights} is a raw checkpoint: convert it here first "
            f"(python -m weights_convert.biggan --src={weights} --out_dir=DIR) and pass --weights=DIR"
        )
    return WeightsPlan()


def hosts(accelerator_type: str) -> int:
    """Hosts of a slice from its type's number (TensorCores for v2-v4/v5p, chips
    for v5litepod/v6e), taking 8 per host. Right for v2/v3/v4/v5p; for other
    generations check the docs and pass ``--multihost`` explicitly."""
    m = re.fullmatch(r"(v\d+[a-z]*|v5litepod|v6e)-(\d+)", accelerator_type)
    if not m:
        raise UserError(
            f"unrecognised accelerator type {accelerator_type!r} (e.g. v4-8, v4-32, v5litepod-16)"
        )
    return max(1, int(m.group(2)) // 8)


def weights_steps(wp: WeightsPlan, scp: list[str], dest: str, loc: list[str], ssh) -> list:
    """Copy the code (and packed weights) to every worker, install, prepare the weights."""
    steps, files = [], []
    if wp.pack is not None:
        files = [f"/tmp/weights-{wp.pack.name}.tar.gz"]
        steps.append((f"pack the converted weights {wp.pack} (the job reads ~/{wp.job_weights})",
                      ["tar", "czf", files[0], "-C", str(wp.pack.parent), wp.pack.name]))  # fmt: skip
    steps.append(("copy it" + (" and the weights" if files else "") + " to every worker",
                  [*scp, *files, dest, *loc, "--worker=all"]))  # fmt: skip
    pip = "~/venv/bin/pip install -q"
    install = ["mkdir -p ~/neural-art-jax", "tar xzf ~/neural-art-jax.tar.gz -C ~/neural-art-jax",
               "python3 -m venv ~/venv"]  # fmt: skip
    if wp.convert:  # the convert extra, its torch a CPU build (no CUDA wheels on a TPU VM)
        install += [f"{pip} torch --index-url {TORCH_CPU}", f'{pip} -U "jax[tpu]" -e "$HOME/neural-art-jax[convert]"']
    else:
        install += [f'{pip} -U "jax[tpu]" -e ~/neural-art-jax']
    if wp.pack is not None:
        install += [f"mkdir -p ~/weights && tar xzf ~/weights-{wp.pack.name}.tar.gz -C ~/weights"]
    extra = ", with the convert extra" if wp.convert else ""
    steps.append((f"unpack and install on every worker (idempotent){extra}", ssh(" && ".join(install))))
    if wp.convert:
        steps.append((f"download, verify and convert {wp.convert} on every worker (once: then cached there)",
                      ssh(f"cd ~ && ~/venv/bin/python -m launch.prepare --weights={wp.convert}")))  # fmt: skip
    return steps


def plan(argv_job: list[str]) -> list[tuple[str, list[str]]]:
    """The steps as (description, argv) pairs."""
    name, zone = _NAME.value, _ZONE.value
    g = ["gcloud", "compute", "tpus", "tpu-vm"]
    loc = [f"--zone={zone}"] + ([f"--project={_PROJECT.value}"] if _PROJECT.value else [])
    ssh = lambda cmd, worker="all": [*g, "ssh", name, *loc, f"--worker={worker}", f"--command={cmd}"]
    multihost = hosts(_TYPE.value) > 1 if _MULTI.value is None else _MULTI.value
    wp = WeightsPlan()
    if _JOB.value == "sweep":
        weights, rest = job_weights(argv_job)
        wp = weights_plan(weights)
        job = [*rest, f"--weights={wp.job_weights}"] if wp.job_weights else argv_job
        command = ["python", "-m", "biggan_jax", f"--out_dir={_OUT.value}/sweep", *job]
        if multihost:
            command.insert(3, "--multihost")
    else:
        if multihost:  # dcgan.main is data-parallel over one host's devices only
            raise cli.UsageError(
                f"--job=dcgan runs on one host: {_TYPE.value} has {hosts(_TYPE.value)} hosts, "
                "and dcgan.main does not form a multi-host mesh (every worker would train the "
                "same model alone); use a single-host type such as v4-8 or v5litepod-8"
            )
        command = ["python", "-m", "dcgan.main", f"--workdir={_OUT.value}/dcgan", *argv_job]
    steps = [
        ("create the VM unless it exists (describe fails -> create)",
         ["bash", "-c", " ".join(map(shlex.quote, [*g, "describe", name, *loc])) + " >/dev/null 2>&1 || "
          + " ".join(map(shlex.quote, [*g, "create", name, *loc, f"--accelerator-type={_TYPE.value}",
                                        f"--version={_VERSION.value}", *(["--spot"] if _SPOT.value else [])]))]),
        ("package this checkout", ["git", "archive", "--format=tar.gz", "-o", PKG, "HEAD"]),
        *weights_steps(wp, [*g, "scp", PKG], f"{name}:~/", loc, ssh),
        (f"run the {_JOB.value} on every worker" + (" (one JAX mesh over all hosts)" if multihost else ""),
         ssh("cd ~ && ~/venv/bin/" + " ".join(map(shlex.quote, command)))),
    ]  # fmt: skip
    if _BUCKET.value:  # worker 0 holds the whole output directory (on a pod slice too)
        rsync = f"cd ~ && gcloud storage rsync -r {_OUT.value} {_BUCKET.value.rstrip('/')}/{name}"
        steps.append(("copy worker 0's outputs (the whole sweep) to the bucket", ssh(rsync, 0)))
    if _DELETE.value:
        steps.append(("delete the VM", [*g, "delete", name, *loc, "--quiet"]))
    return steps


def main(argv, job_argv: list[str]) -> None:
    if not _NAME.value:
        raise cli.UsageError("--name is required")
    hosts(_TYPE.value)  # a bad --accelerator_type fails before anything runs
    steps = plan(job_argv)
    for i, (what, cmd) in enumerate(steps, 1):
        print(f"# [{i}/{len(steps)}] {what}")
        print(shlex.join(cmd))
        if not _DRY.value:
            r = subprocess.run(cmd)
            if r.returncode != 0:
                print(
                    f"step {i} failed ({r.returncode}); re-run the same command to resume",
                    file=sys.stderr,
                )
                sys.exit(r.returncode)


def run() -> None:
    """The arguments after ``--`` belong to the job: split off before absl
    parses (``cli.run`` refuses positional arguments)."""
    argv = sys.argv
    job_argv = argv[argv.index("--") + 1 :] if "--" in argv else []
    sys.argv = argv[: argv.index("--")] if "--" in argv else argv
    cli.run(lambda a: main(a, job_argv))


if __name__ == "__main__":
    run()

"""A sweep's output directory: where each image goes, what counts as finished, the
PNG writer threads, the manifest, the grid pages (:mod:`neural_art.sweep.driver` runs
the sweep).

The resume contract: a seed is finished when the manifest's ``seeds_done`` lists
it *and* every one of its PNGs is whole (PNG signature first, ``IEND`` chunk last).
A seed whose files are missing, empty or cut short (a killed run, a full disk, a
copy that stopped) is computed again, and temporary files a killed writer left
behind (``.<name>.<random>.tmp``, :mod:`neural_art.atomic`) are removed. The
manifest is rewritten atomically after each chunk and lists a seed only once all
its files are written, so it never names an unfinished seed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import json
import os
import pathlib
import re
import tempfile
import threading
from collections.abc import Callable, Sequence

import numpy as np

from neural_art import images as imio
from neural_art import lineage
from neural_art.atomic import write_json
from neural_art.errors import UserError

PNG_HEAD = b"\x89PNG\r\n\x1a\n"
PNG_TAIL = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def whole_png(path: pathlib.Path) -> bool:
    """``path`` is a PNG written to the end (not missing, empty or truncated)."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != PNG_HEAD:
                return False
            f.seek(0, os.SEEK_END)
            if f.tell() < len(PNG_HEAD) + len(PNG_TAIL):
                return False
            f.seek(-len(PNG_TAIL), os.SEEK_END)
            return f.read() == PNG_TAIL
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a sweep's files go: one directory per network, one file per row
    (``names``; ``labels``: each row's label in the grids)."""

    out: pathlib.Path
    rows: tuple[dict, ...]
    names: tuple[str, ...]
    labels: tuple[str, ...] = ()

    def seed_dir(self, seed: int | str | None) -> pathlib.Path:
        """``images/seed_000007``, ``images/net_7.2`` (a lineage), ``images/original``."""
        return self.out / "images" / lineage.dir_name(seed)

    def complete(self, seed: int | None) -> bool:
        """Every file of ``seed`` (None: θ*) is a whole PNG."""
        return all(whole_png(p) for p in self.files(seed))

    def files(self, seed: int | None) -> list[pathlib.Path]:
        return [self.seed_dir(seed) / n for n in self.names]


def slug(s: str) -> str:
    """``s`` as a file-name part: runs of other characters as ``_``, at most 40 characters."""
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")[:40]


def check_out_dir(out_dir: str) -> pathlib.Path:
    """``out_dir`` exists (created) and is writable; a file is refused. The probe has
    a unique name, so processes checking one shared directory at once do not race."""
    out = pathlib.Path(out_dir)
    if out.is_file():
        raise UserError(f"output dir {out} is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test.")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"output dir {out} is not writable: {e}") from e
    return out


def _save_all(paths: Sequence[pathlib.Path], images) -> None:
    for p, im in zip(paths, images, strict=True):
        imio.save_image(p, im)


class ImageWriter:
    """Writes PNGs on worker threads, overlapped with device work.

    PIL's PNG encoder (zlib) and numpy's uint8 conversion release the GIL, so
    ``workers`` threads encode at once while the main thread waits on the
    device. At most ``max_pending`` submissions wait (``submit`` blocks beyond),
    so memory stays flat however long the sweep. :meth:`poll` returns the keys
    whose files are all written and the first write error; :meth:`finished`
    returns the keys and raises that error.
    """

    def __init__(self, workers: int = 0, max_pending: int = 0):
        self.workers = workers or min(16, os.cpu_count() or 1)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="png")
        self._room = threading.Semaphore(max_pending or 4 * self.workers)
        self._pending: list[tuple[object, concurrent.futures.Future]] = []

    def submit(self, key, paths: Sequence[pathlib.Path], images) -> None:
        """Queues ``images[i]`` (``[H, W, 3]`` in [-1, 1] or uint8) -> ``paths[i]``."""
        self._room.acquire()
        fut = self._pool.submit(_save_all, list(paths), images)
        fut.add_done_callback(lambda _: self._room.release())
        self._pending.append((key, fut))

    def poll(self) -> tuple[list, BaseException | None]:
        keep, done = [], []
        for kf in self._pending:
            (done if kf[1].done() else keep).append(kf)
        self._pending = keep
        errors = [f.exception() for _, f in done if f.exception() is not None]
        return [k for k, f in done if f.exception() is None], (errors[0] if errors else None)

    def finished(self) -> list:
        keys, err = self.poll()
        if err is not None:
            raise err
        return keys

    def wait(self) -> None:
        concurrent.futures.wait([f for _, f in self._pending])

    def map(self, fn: Callable, args: Sequence[tuple]) -> list:
        """``[fn(*a) for a in args]`` on the workers."""
        return list(self._pool.map(lambda a: fn(*a), args))

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True)
        if exc[0] is None:
            self.finished()


def check_resume(manifest_path: pathlib.Path, new: dict) -> dict:
    """The manifest already in the directory ({} if none); refuses one with other settings.
    ``breeding`` (lineages' β and cross) is recorded by the first run that breeds, and
    kept in ``new`` by a run of seeds alone."""
    if not manifest_path.exists():
        return {}
    try:
        old = json.loads(manifest_path.read_text())
    except (UnicodeDecodeError, ValueError) as e:
        raise damaged(manifest_path, f"not JSON: {e}") from e
    if not isinstance(old, dict):
        raise damaged(manifest_path, f"a JSON {type(old).__name__}, not an object")
    done = old.get("seeds_done", [])
    if not (isinstance(done, list) and all(lineage.is_network_id(s) for s in done)):
        raise damaged(manifest_path, "seeds_done is not a list of seeds")
    if not isinstance(old.get("plan") or {}, dict):
        raise damaged(manifest_path, "plan is not an object")
    same = {k: v for k, v in old.items() if k not in ("seeds_done", "rows", "images", "plan")}
    if "breeding" in new and "breeding" not in same:  # nothing bred there yet: any breeding fits
        same["breeding"] = new["breeding"]
    elif "breeding" in same and "breeding" not in new:  # seeds alone: the recorded breeding stays
        new["breeding"] = same["breeding"]
    if same != new:
        diff = sorted(k for k in set(new) | set(same) if new.get(k) != same.get(k))
        raise UserError(
            f"{manifest_path.parent} holds a sweep with other settings ({', '.join(diff)} differ); "
            "use another --out_dir (finished images are never overwritten)"
        )
    return old


def damaged(manifest_path: pathlib.Path, problem: str) -> UserError:
    """The one error of a manifest that cannot be what this tool wrote."""
    return UserError(f"{manifest_path}: damaged manifest ({problem}); restore it, or move it away "
                      "to start the sweep over (finished images are kept either way)")  # fmt: skip


def resume_state(lay: Layout, settings: dict, seeds: Sequence[int]) -> dict:
    """What is already done in ``lay.out`` (module docstring): ``{"done": finished
    seeds (any run's), "todo": the job's other seeds, "plan": the recorded plan}``.
    Removes the temporary files a killed run left. Refuses a symbolic link inside
    ``lay.out``: the sweep would write through it, outside its directory."""
    check_no_links(lay.out)
    old = check_resume(lay.out / "manifest.json", settings)
    for tmp in lay.out.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    done = {s for s in old.get("seeds_done", []) if lay.complete(s)}
    return {"done": sorted(done, key=lineage.id_order), "todo": [s for s in seeds if s not in done], "plan": old.get("plan")}


def check_no_links(out: pathlib.Path) -> None:
    """Raises ``UserError`` naming the first symbolic link below ``out`` (not followed)."""
    for root, dirs, files in os.walk(out, followlinks=False):
        for name in sorted(dirs + files):
            if os.path.islink(os.path.join(root, name)):
                raise UserError(
                    f"{os.path.join(root, name)} is a symbolic link inside --out_dir={out}: a sweep "
                    "writes only inside its directory; remove the link or use another --out_dir"
                )


def spans(seeds: Sequence[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"`` (the ``--seeds`` grammar)."""
    parts, seeds = [], sorted(seeds)
    for s in seeds:
        if parts and s == parts[-1][1] + 1:
            parts[-1][1] = s
        else:
            parts.append([s, s])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in parts)


class Manifest:
    """``manifest.json``: settings, rows, plan, ``seeds_done``; written atomically
    (by process 0). ``kept``: the finished seeds the file on disk lists."""

    def __init__(self, path: pathlib.Path, data: dict):
        self.path, self.data, self.kept = path, data, []

    def save(self) -> None:
        write_json(self.path, self.data)
        self.kept = list(self.data["seeds_done"])

    def add(self, seeds) -> None:
        """Adds the seeds whose files are all written (None: θ*, not listed)."""
        seeds = set(seeds) - {None} - set(self.data["seeds_done"])
        if seeds:
            self.data["seeds_done"] = sorted(set(self.data["seeds_done"]) | seeds, key=lineage.id_order)
            self.save()

    def failure(self, e: OSError) -> OSError:
        """``e`` as one line that says what is kept and how to go on."""
        which = ",".join(filter(None, [spans([s for s in self.kept if isinstance(s, int)]),
                                       *(s for s in self.kept if isinstance(s, str))]))  # fmt: skip
        kept = (f"kept {len(self.kept)} finished seeds ({which}) and their images, "
                f"listed in {self.path}") if self.kept else f"no seed finished in {self.path.parent}"  # fmt: skip
        fix = "free space" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
        return OSError(f"{' '.join(str(e).split())}; {kept}; {fix} and re-run the same command to resume")


def write_grids(lay: Layout, seeds: Sequence[int], columns: int, *, workers: int = 0) -> list[pathlib.Path]:
    """Figure layout: rows = the layout's rows, columns = networks, far right θ*.
    One page per ``columns`` networks: grid.png, grid_001.png, ... (pages encoded in parallel)."""
    read = lambda s: np.stack([imio.load_image(p) for p in lay.files(s)])
    labels = list(lay.labels)
    orig = read(None)

    def page(p: int, start: int) -> pathlib.Path:
        cols = list(seeds[start : start + columns])
        grid = np.stack([read(s) for s in cols] + [orig], axis=1)  # [rows, cols, H, W, 3]
        path = lay.out / ("grid.png" if p == 0 else f"grid_{p:03d}.png")
        return imio.save_grid(path, grid, row_labels=labels, value_range=(0.0, 1.0),
                              col_labels=[f"seed {s}" if isinstance(s, int) else s for s in cols] + ["original"])  # fmt: skip

    with ImageWriter(workers) as pool:
        return pool.map(page, list(enumerate(range(0, len(seeds), columns))))

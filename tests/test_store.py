"""neural_art.store: params + metadata.json directories."""

import numpy as np
import pytest

from neural_art import store


def test_save_load_overwrite_keeps_other_files_and_refuses_foreign_params(tmp_path):
    out = tmp_path / "w"
    out.mkdir()
    (out / "README.md").write_text("notes")  # written before the weights: kept
    store.save_params(out, {"a": np.arange(3.0)}, {"model": "x"})
    store.save_params(out, {"a": np.ones(2)}, {"model": "x"})  # same model: re-saved
    with pytest.raises(FileExistsError, match="holds other weights.*--overwrite"):
        store.save_params(out, {"a": np.ones(3)}, {"model": "y"})  # another model's: refused
    store.save_params(out, {"a": np.ones(2), "b": np.zeros(1)}, {"model": "y"}, overwrite=True)
    params, meta = store.load_params(out)
    np.testing.assert_array_equal(params["a"], np.ones(2))
    assert meta["model"] == "y" and (out / "README.md").read_text() == "notes"
    work = tmp_path / "workdir"
    (work / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="training workdir"):
        store.save_params(work, {"a": np.zeros(1)}, {"model": "x"})
    assert sorted(p.name for p in work.iterdir()) == ["checkpoints"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "metadata.json", "params"]
    assert not list(tmp_path.glob("w.tmp-*"))  # no leftovers
    foreign = tmp_path / "f"
    (foreign / "params").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not overwriting"):
        store.save_params(foreign, {"a": np.zeros(1)}, {})
    assert (foreign / "params").is_dir()

"""neural_art.imagenet: every class reachable by its display name; plain names as
WordNet's first sense; ambiguous aliases are errors that list the candidates."""

import numpy as np
import pytest

from neural_art import imagenet


def test_display_names_are_unique_and_round_trip():
    names = imagenet.class_names()
    assert len(names) == 1000 and len({n.lower() for n in names}) == 1000
    assert all(imagenet.class_index(imagenet.class_name(i)) == i for i in range(1000))
    assert all(imagenet.class_index(imagenet.wordnet_id(i)) == i for i in range(0, 1000, 37))


@pytest.mark.parametrize("name, index", [
    ("harp", 594), ("harmonica", 593), ("mouth harp", 593), ("crane", 517),
    ("crane (bird)", 134), ("cardigan", 474), ("Cardigan", 264), ("Cardigan Welsh corgi", 264),
    ("partridge", 86), ("ruffed grouse", 82), ("gong", 577), ("tub", 876), ("stupa", 832),
    ("n03495258", 594), ("980", 980), (7, 7), ("Great_White-shark", 2),
])  # fmt: skip
def test_names_resolve(name, index):
    assert imagenet.class_index(name) == index


@pytest.mark.parametrize("alias, ids", [("maillot", (638, 639)), ("crawfish", (123, 124))])
def test_undecided_aliases_list_their_candidates(alias, ids):
    with pytest.raises(ValueError, match="ambiguous") as e:
        imagenet.class_index(alias)
    assert all(f"({i})" in str(e.value) for i in ids)


def test_unknown_and_out_of_range():
    with pytest.raises(ValueError, match="closest names: .*volcano"):
        imagenet.class_index("volcanoo")
    with pytest.raises(ValueError, match="out of range"):
        imagenet.class_index(1000)


def test_class_vector_soft_mix():
    v = imagenet.class_vector(["harp", {"crane": 0.5, "stupa": 0.5}])
    assert v.shape == (2, 1000) and v[0, 594] == 1 and v[1, 517] == v[1, 832] == 0.5
    np.testing.assert_allclose(v.sum(1), 1)

import pytest
import torch

from fixtures.datasets import make_split
from reusebench.protocol import ConfigError


@pytest.mark.parametrize("dataset", ["shapes", "nuclei"])
def test_deterministic_valid_and_split_apart(dataset):
    make_split.cache_clear()
    a = make_split(dataset, "train", n=6, size=32)
    make_split.cache_clear()
    b = make_split(dataset, "train", n=6, size=32)
    test = make_split(dataset, "test", n=6, size=32)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, test.images)
    assert a.images.shape == a.masks.shape == (6, 1, 32, 32)
    assert a.images.min() >= 0 and a.images.max() <= 1
    assert set(a.masks.unique().tolist()) <= {0.0, 1.0}
    assert (a.masks.flatten(1).sum(1) > 0).all(), "every image has some foreground"


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown dataset 'mnist'.*shapes, nuclei"):
        make_split("mnist", "train", n=2, size=16)

import pytest
import torch

from reusebench.fixtures.datasets import make_split
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


@pytest.mark.parametrize("dataset", ["shapes", "nuclei"])
def test_the_auto_encoders_target_is_the_clean_image(dataset):
    """ae denoises: the identity (noisy input as output) is not its answer; seg keeps the masks."""
    from reusebench.metrics import ae_per_image

    split = make_split(dataset, "val", n=8, size=32)
    assert split.targets("seg") is split.masks and split.targets("ae") is split.clean
    assert split.clean.shape == split.images.shape and 0 <= split.clean.min() and split.clean.max() <= 1
    assert not torch.equal(split.clean, split.images), "the inputs carry noise the target does not"
    assert float(ae_per_image(split.images, split.clean)["ssim"].mean()) < 0.9
    head = split.head(3)
    assert torch.equal(head.clean, split.clean[:3])

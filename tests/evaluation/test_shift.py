"""Shift transforms and OOD sets: rotation matches rot90 exactly at right angles, noise has the stated
spread, OOD sets have the run's shape or a clear error."""

from __future__ import annotations

import pytest
import torch

from dropkit.data import ArrayDataset, load_dataset
from dropkit.evaluation.shift import add_gaussian_noise, default_ood, load_ood, ood_names, rotate_images


@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (1, 1, 5, 9)])
def test_right_angle_rotation_is_rot90(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape)
    if shape[-1] == shape[-2]:  # counter-clockwise, pixel centres land on pixel centres
        torch.testing.assert_close(rotate_images(x, 90), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
        torch.testing.assert_close(rotate_images(x, -90), torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate_images(x, 180), torch.flip(x, dims=(-2, -1)), atol=1e-5, rtol=0)
    assert torch.equal(rotate_images(x, 360), x)


def test_rotation_rejects_non_images() -> None:
    with pytest.raises(ValueError, match=r"expected 4D images \(N, C, H, W\), got shape \(3, 40\)"):
        rotate_images(torch.zeros(3, 40), 10)


def test_gaussian_noise_spread_and_clip() -> None:
    n, sigma = 200_000, 0.2
    x = torch.zeros(n)
    g = torch.Generator().manual_seed(0)
    y = add_gaussian_noise(x, sigma, generator=g)
    # the sample std of n normals lies within 6 standard errors (sigma / sqrt(2n)) of sigma
    assert abs(float(y.std()) - sigma) < 6 * sigma / (2 * n) ** 0.5
    assert torch.equal(x, torch.zeros(n))  # input untouched
    clipped = add_gaussian_noise(torch.full((1000,), 0.5), 2.0, generator=g, clip=(0.0, 1.0))
    assert float(clipped.min()) == 0.0 and float(clipped.max()) == 1.0
    with pytest.raises(ValueError, match="got -1"):
        add_gaussian_noise(x, -1)


def toy(name: str, shape: tuple[int, ...], n: int = 6) -> ArrayDataset:
    x = torch.rand(n, *shape)
    y = torch.arange(n) % 2
    return ArrayDataset(name, x, y, x.clone(), y.clone(), 2, shape, ("a", "b"), "test")


def test_ood_sets_shape_and_errors() -> None:
    digits = load_dataset("digits")
    # 500 test rows in distribution: digits' 360 test images, then 140 of its training images
    resized = load_ood("digits-resized", toy("fashion-mnist", (1, 28, 28), n=500))
    assert tuple(resized.x.shape) == (500, 1, 28, 28) and 0 <= float(resized.x.min()) <= float(resized.x.max()) <= 1
    assert "500: test split, then train" in resized.description
    assert tuple(load_ood("digits-resized", toy("fashion-mnist", (1, 28, 28), n=20)).x.shape) == (20, 1, 28, 28)
    noise = load_ood("noise", digits, seed=3)
    assert tuple(noise.x.shape) == (360, 1, 8, 8) and torch.equal(noise.x, load_ood("noise", digits, seed=3).x)
    signal = load_ood("noise", toy("mnist1d", (40,)))
    assert tuple(signal.x.shape) == (6, 40) and "Gaussian" in signal.description
    with pytest.raises(ValueError, match=r"input shape \(1, 28, 28\), got \(1, 8, 8\); try 'digits-resized'"):
        load_ood("digits", toy("fashion-mnist", (1, 28, 28)))
    with pytest.raises(ValueError, match="same channel count"):
        load_ood("digits-resized", toy("mnist1d", (40,)))
    with pytest.raises(ValueError, match="did you mean 'noise'"):
        load_ood("nosie", digits)
    assert "fashion-mnist-resized" in ood_names() and "mnist1d-resized" not in ood_names()
    assert default_ood(toy("mnist1d", (40,))) == "noise"

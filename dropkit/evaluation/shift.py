"""Dataset shift and out-of-distribution (OOD) sets for evaluating predictive uncertainty.

Shifts follow the protocol of Ovadia et al. 2019, "Can You Trust Your Model's Uncertainty? Evaluating
Predictive Uncertainty Under Dataset Shift", NeurIPS, https://arxiv.org/abs/1906.02530 (additive Gaussian
noise and rotation of increasing strength, plus a separate OOD set). Differences: only two shift kinds,
and noise on images is clipped back to ``[0, 1]`` (the range dropkit scales images to).

OOD sets (:func:`ood_names`), built from local data only (nothing is downloaded):

- a registry name (``"mnist"``, ``"fashion-mnist"``, ``"digits"``, ``"mnist1d"``): as many of its inputs as
  the run's test set has (its test split first, then its training split: the model saw neither); its input
  shape must equal the run's.
- ``"<name>-resized"``: those images resized (bilinear, antialiased) to the run's
  ``H x W``; images only, same channel count. ``"digits-resized"`` turns scikit-learn's 8x8 digits into
  blurry 28x28 digits that fill the frame (MNIST digits sit in a 20x20 box with a 4-pixel margin).
- ``"noise"``: synthetic inputs, as many as the test set: uniform ``[0, 1]`` pixels for images, Gaussian
  with the training set's per-feature mean and standard deviation otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit._validation import check_non_negative, closest_name_hint
from dropkit.data import ArrayDataset, dataset_names, dataset_status, load_dataset

__all__ = ["OODSet", "add_gaussian_noise", "rotate_images", "is_image_shape", "ood_names", "default_ood", "load_ood"]

NOISE = "noise"
RESIZED = "-resized"


@dataclass(frozen=True)
class OODSet:
    """Out-of-distribution inputs for one evaluation.

    Attributes:
        name: the name it was asked for (``"digits-resized"``).
        x: float32 inputs ``(N, *input_shape)``.
        description: where the inputs come from, for reports.
    """

    name: str
    x: Tensor
    description: str


def is_image_shape(input_shape: tuple[int, ...]) -> bool:
    """True for ``(C, H, W)`` inputs with ``H, W > 1`` (images), False for signals ``(L,)`` / ``(C, L)``."""
    return len(input_shape) == 3 and input_shape[1] > 1 and input_shape[2] > 1


def add_gaussian_noise(
    x: Tensor, sigma: float, *, generator: torch.Generator | None = None, clip: tuple[float, float] | None = None
) -> Tensor:
    """``x + sigma * N(0, 1)``, optionally clipped (a new tensor; ``x`` is not modified).

    Args:
        x: inputs, any shape.
        sigma: standard deviation of the noise, ``>= 0`` (in input units).
        generator: random generator for the noise (default: None, the global one).
        clip: ``(low, high)`` to clamp the result to, e.g. ``(0, 1)`` for images (default: None).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> y = add_gaussian_noise(torch.full((1000,), 0.5), 0.1, generator=g, clip=(0.0, 1.0))
        >>> 0.08 < float(y.std()) < 0.12 and float(y.min()) >= 0.0
        True
    """
    sigma = check_non_negative("add_gaussian_noise", "sigma", sigma)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    out = x + sigma * noise
    return out.clamp(*clip) if clip is not None else out


def rotate_images(x: Tensor, degrees: float) -> Tensor:
    """Rotate images ``(N, C, H, W)`` counter-clockwise by ``degrees`` about their centre.

    Bilinear interpolation; pixels that come from outside the image are 0 (the background of MNIST-style
    images). ``degrees == 0`` returns an exact copy.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 0, 2] = 1.0        # a dot at the top centre
        >>> y = rotate_images(x, 180)
        >>> int(y[0, 0].flatten().argmax())                          # now at the bottom centre
        22
    """
    if x.dim() != 4:
        raise ValueError(f"rotate_images: expected 4D images (N, C, H, W), got shape {tuple(x.shape)}")
    if float(degrees) % 360 == 0:
        return x.clone()
    rad = math.radians(float(degrees))
    c, s = math.cos(rad), math.sin(rad)
    h, w = x.shape[-2:]
    # affine_grid maps output to input coordinates in [-1, 1]; correct for a non-square aspect ratio
    theta = torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def ood_names() -> list[str]:
    """Every name :func:`load_ood` accepts.

    Example:
        >>> ood_names()[:3]
        ['mnist1d', 'digits', 'fashion-mnist']
    """
    names = dataset_names()
    return names + [n + RESIZED for n in names if n != "mnist1d"] + [NOISE]


def default_ood(data: ArrayDataset, data_dir: str | None = None) -> str:
    """The OOD set used when none is named: a real dataset of another kind where one is available locally.

    fashion-mnist: ``mnist`` if its files are here, else ``digits-resized``; mnist: ``fashion-mnist`` if
    here, else ``noise``; digits: ``fashion-mnist-resized`` if here, else ``noise``; otherwise ``noise``.
    """

    def here(name: str) -> bool:
        return dataset_status(name, data_dir).found

    if data.name == "fashion-mnist":
        return "mnist" if here("mnist") else "digits-resized"
    if data.name == "mnist":
        return "fashion-mnist" if here("fashion-mnist") else NOISE
    if data.name == "digits":
        return "fashion-mnist-resized" if here("fashion-mnist") else NOISE
    return NOISE


def load_ood(name: str, data: ArrayDataset, *, seed: int = 0, data_dir: str | None = None) -> OODSet:
    """Build the OOD set ``name`` for a model trained on ``data`` (same input shape, float32).

    Args:
        name: one of :func:`ood_names`.
        data: the in-distribution dataset (its test-set size caps the OOD set's size).
        seed: seed of the ``"noise"`` inputs (default: 0).
        data_dir: folder searched first for dataset files (default: None).

    Raises:
        ValueError: unknown name (with a did-you-mean hint), the run's own dataset, or inputs whose shape
            differs from ``data.input_shape`` (with the ``-resized`` variant suggested for images).
        FileNotFoundError: the dataset's files are not here (nothing is downloaded).

    Example:
        >>> from dropkit.data import load_dataset
        >>> ood = load_ood("noise", load_dataset("digits"))
        >>> tuple(ood.x.shape), ood.description.startswith("uniform")
        ((360, 1, 8, 8), True)
    """
    where = "ood"
    if not isinstance(name, str):
        raise TypeError(f"{where}: name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    names = ood_names()
    if key not in names:
        raise ValueError(f"{where}: dataset must be one of {', '.join(names)}, got {name!r}{closest_name_hint(key, names)}")
    shape = tuple(data.input_shape)
    n = data.num_test
    if key == NOISE:
        g = torch.Generator().manual_seed(seed)
        if is_image_shape(shape):
            x = torch.rand((n, *shape), generator=g)
            return OODSet(key, x, f"uniform [0, 1] noise images, {n} x {shape}, seed {seed}")
        mean, std = data.train_x.mean(0), data.train_x.std(0)
        x = mean + std * torch.randn((n, *shape), generator=g)
        return OODSet(key, x, f"Gaussian noise with the training set's per-feature mean and std, {n} x {shape}, seed {seed}")
    resized = key.endswith(RESIZED)
    base = key[: -len(RESIZED)] if resized else key
    if base == data.name:
        raise ValueError(f"{where}: the OOD set must differ from the run's dataset, got {name!r} for a {data.name!r} run")
    other = load_dataset(base, data_dir=data_dir, download=False)
    # the model never saw this dataset, so both splits are OOD: the test split first, then the training split
    x = torch.cat([other.test_x, other.train_x[: max(0, n - other.num_test)]])[:n]
    oshape = tuple(other.input_shape)
    if resized:
        if not (is_image_shape(shape) and is_image_shape(oshape) and shape[0] == oshape[0]):
            raise ValueError(f"{where}: {name!r} needs images with the same channel count on both sides, got "
                             f"{base} inputs {oshape} and run inputs {shape}")
        x = F.interpolate(x, size=shape[1:], mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        return OODSet(key, x.contiguous(), f"{base} images ({len(x)}: test split, then train) resized from {oshape[1]}x{oshape[2]} to "
                      f"{shape[1]}x{shape[2]} (bilinear, antialiased); source: {other.source}")
    if oshape != shape:
        hint = f"; try {base + RESIZED!r}" if is_image_shape(shape) and is_image_shape(oshape) else ""
        raise ValueError(f"{where}: {name!r} inputs must have the run's input shape {shape}, got {oshape}{hint}")
    return OODSet(key, x, f"{base} images ({len(x)}: test split, then train); source: {other.source}")

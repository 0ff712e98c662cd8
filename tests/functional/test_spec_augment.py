"""Tests for dropkit.functional.spec_augment and dropkit.nn.SpecAugment (Park et al. 2019 masking)."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.functional import spec_augment, spec_augment_mask
from dropkit.nn import SpecAugment


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _runs(flags: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, n = [], 0
    for v in flags.tolist() + [False]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_the_mask_is_a_union_of_whole_time_and_frequency_bands_within_their_widths() -> None:
    m = spec_augment_mask((64, 50, 40), time_masks=2, time_width=6, freq_masks=2, freq_width=5, generator=gen())
    for ex in m:
        rows, cols = ex.all(dim=1), ex.all(dim=0)  # frames masked at every channel, channels masked at every frame
        assert torch.equal(ex, rows[:, None] | cols[None, :])  # nothing masked outside whole bands
        assert rows.sum() <= 2 * 6 and cols.sum() <= 2 * 5
        assert all(r <= 2 * 6 for r in _runs(rows)) and all(r <= 2 * 5 for r in _runs(cols))


def test_one_mask_is_one_contiguous_band_whose_width_is_uniform_in_0_to_w() -> None:
    n, t, width = 4000, 50, 10
    m = spec_augment_mask((n, t, 8), time_masks=1, time_width=width, freq_masks=0, generator=gen(1))
    rows = m[:, :, 0]
    widths = rows.sum(dim=1).float()
    assert all(len(_runs(r)) <= 1 for r in rows[:200])  # one band (or none when its width is 0)
    assert int(widths.max()) == width and int(widths.min()) == 0
    # U{0..W}: mean W/2, variance ((W+1)^2 - 1) / 12; the sample mean lies within 6 standard errors
    sd = math.sqrt(((width + 1) ** 2 - 1) / 12)
    assert abs(float(widths.mean()) - width / 2) < 6 * sd / math.sqrt(n)
    # every start position is possible: the band's first frame reaches both ends of the valid range
    first = torch.stack([r.nonzero()[0, 0] for r in rows if r.any()])
    assert int(first.min()) == 0 and int(first.max()) == t - 1  # a width-1 band may sit on the last frame


def test_max_time_ratio_caps_the_time_width() -> None:
    m = spec_augment_mask((500, 20, 4), time_masks=1, time_width=15, freq_masks=0, max_time_ratio=0.2, generator=gen())
    assert int(m[:, :, 0].sum(dim=1).max()) == 4  # floor(0.2 * 20)


def test_masked_entries_take_mask_value_the_rest_is_unchanged_and_gets_gradient() -> None:
    x = (torch.randn(8, 30, 16) + 5).requires_grad_()
    y = spec_augment(x, 2, 5, 2, 4, mask_value=-1.0, generator=gen(2))
    m = spec_augment_mask((8, 30, 16), 2, 5, 2, 4, generator=gen(2))  # the same draws
    assert torch.equal(y[m], torch.full_like(y[m], -1.0)) and torch.equal(y[~m], x[~m])
    y.sum().backward()
    assert torch.equal(x.grad, (~m).float())


def test_each_call_and_each_example_gets_a_fresh_mask() -> None:
    x = torch.ones(16, 40, 20)
    a, b = spec_augment(x, 2, 8, 2, 6), spec_augment(x, 2, 8, 2, 6)
    assert not torch.equal(a, b)
    assert len({tuple(ex.flatten().tolist()) for ex in a}) > 1


def test_eval_and_zero_masks_are_identity() -> None:
    x = torch.randn(2, 10, 6)
    assert spec_augment(x, training=False) is x
    assert spec_augment(x, 0, 10, 0, 8) is x
    aug = SpecAugment(time_masks=3, freq_masks=3).eval()
    assert aug(x) is x


def test_the_module_applies_the_functional_in_training_and_prints_its_arguments() -> None:
    aug = SpecAugment(time_masks=1, time_width=4, freq_masks=1, freq_width=3, generator=gen(5))
    y = aug(torch.ones(3, 20, 10))
    ref = spec_augment(torch.ones(3, 20, 10), 1, 4, 1, 3, generator=gen(5))
    assert torch.equal(y, ref)
    assert repr(aug) == "SpecAugment(time_masks=1, time_width=4, freq_masks=1, freq_width=3, max_time_ratio=1)"


def test_bad_arguments_are_clear_errors() -> None:
    x = torch.randn(2, 10, 6)
    with pytest.raises(ValueError, match="time_masks must be an integer >= 0, got -1"):
        spec_augment(x, time_masks=-1)
    with pytest.raises(ValueError, match="max_time_ratio must be in \\[0, 1\\], got 1.5"):
        spec_augment(x, max_time_ratio=1.5)
    with pytest.raises(ValueError, match=r"expected a 3D input \(N, T, F\), got shape \(10, 6\)"):
        spec_augment(torch.randn(10, 6))
    with pytest.raises(TypeError, match="freq_width must be an int"):
        SpecAugment(freq_width=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x must be a Tensor"):
        spec_augment([[1.0]])  # type: ignore[arg-type]

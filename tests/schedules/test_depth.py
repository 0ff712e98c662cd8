"""drop_path_rates(): timm's calculate_drop_path_rates."""

from __future__ import annotations

import pytest
import torch

from dropkit.schedules import drop_path_rates


def test_matches_timm_linspace():
    for p, depth in ((0.1, 12), (0.3, 4), (0.5, 1), (0.2, 0)):
        ref = [x.item() for x in torch.linspace(0, p, depth, dtype=torch.float64)]
        assert drop_path_rates(p, depth) == pytest.approx(ref, abs=1e-12)


def test_stagewise_splits_the_global_ramp():
    rates = drop_path_rates(0.5, [2, 2, 6, 2], stagewise=True)
    assert [len(r) for r in rates] == [2, 2, 6, 2]
    flat = [r for stage in rates for r in stage]
    assert flat == drop_path_rates(0.5, [2, 2, 6, 2])
    assert flat[0] == 0.0 and flat[-1] == 0.5
    assert all(b > a for a, b in zip(flat, flat[1:]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="got 1.5"):
        drop_path_rates(1.5, 4)
    with pytest.raises(ValueError, match="got the int 4"):
        drop_path_rates(0.1, 4, stagewise=True)
    with pytest.raises(ValueError, match="got -2"):
        drop_path_rates(0.1, [2, -2])

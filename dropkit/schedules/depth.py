"""Depth-wise DropPath rates: a linear increase from the first block to the last.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016, https://arxiv.org/abs/1603.09382
(the "linear decay rule": block ``l`` of ``L`` is dropped with probability ``l / L * p_L``).

This follows timm's ``calculate_drop_path_rates``: ``linspace(0, p, total_depth)`` over all
blocks, so the first block has rate 0 and the last has ``p`` (the paper's rule gives the first
block ``p / L`` instead). Rates are probabilities of **dropping** a block's branch.
"""

from __future__ import annotations

from collections.abc import Sequence

from dropkit._validation import check_positive_int, check_probability

__all__ = ["drop_path_rates"]


def drop_path_rates(
    p: float,
    depths: int | Sequence[int],
    *,
    stagewise: bool = False,
) -> list[float] | list[list[float]]:
    """Per-block DropPath rates rising linearly from 0 (first block) to ``p`` (last block).

    Args:
        p: the last block's rate (probability of **dropping**), in ``[0, 1]``.
        depths: the number of blocks, or a list of blocks per stage.
        stagewise: with a list of stage depths, return one list of rates per stage: the same
            linear ramp over all blocks, split by stage, as timm's code does (its docstring speaks of
            one rate per stage; the code splits the ramp) (default: False: a flat list).

    Returns:
        A flat list of ``sum(depths)`` rates, or with ``stagewise=True`` one list per stage.

    Example:
        >>> drop_path_rates(0.3, 4)
        [0.0, 0.1, 0.2, 0.3]
        >>> drop_path_rates(0.4, [2, 3], stagewise=True)
        [[0.0, 0.1], [0.2, 0.3, 0.4]]
    """
    where = "drop_path_rates"
    p = check_probability(where, "p", p)
    if isinstance(depths, int) and not isinstance(depths, bool):
        if stagewise:
            raise ValueError(f"{where}: stagewise=True needs a list of stage depths, got the int {depths}")
        stages = [check_positive_int(where, "depths", depths, minimum=0)]
    else:
        if isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence):
            raise TypeError(f"{where}: depths must be an int or a sequence of ints, got {type(depths).__name__}")
        stages = [check_positive_int(where, "depths", d, minimum=0) for d in depths]
    total = sum(stages)
    # exact multiples of p / (total - 1) rounded once, so 0.3 * 1/3 prints as 0.1
    flat = [round(p * i / (total - 1), 12) if total > 1 else 0.0 for i in range(total)]
    if not stagewise:
        return flat
    out, start = [], 0
    for d in stages:
        out.append(flat[start : start + d])
        start += d
    return out

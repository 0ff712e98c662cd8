"""Locked (variational) dropout: one mask per sequence, shared over every time step.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural Networks",
NeurIPS 2016, https://arxiv.org/abs/1512.05287. Known as ``LockedDropout`` in awd-lstm and
PyTorch-NLP and ``RNNDropout`` in fastai.

Each sequence ``b`` gets one Bernoulli mask over the feature dims; the same mask multiplies the
features of every time step of that sequence. ``p`` is the probability of **dropping** a feature
(inverted dropout: kept features are scaled by ``1 / (1 - p)``). Works on time-first ``(T, B, *)``,
batch-first ``(B, T, *)`` and :class:`~torch.nn.utils.rnn.PackedSequence` inputs; for a packed
sequence the mask is drawn in the caller's (unsorted) batch order, so a packed batch and its padded
equivalent get the same masks from the same generator state.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from dropkit._validation import check_floating, check_probability
from dropkit.functional.dropout import bernoulli_keep_mask

__all__ = ["locked_dropout", "sequence_keep_mask"]


def sequence_keep_mask(
    batch: int,
    features: tuple[int, ...],
    p: float,
    *,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return a ``(batch, *features)`` mask with values in ``{0, 1/(1-p)}`` (``p`` < 1 is the drop rate)."""
    keep = bernoulli_keep_mask((batch, *features), 1.0 - p, like=like, generator=generator)
    return keep.mul_(1.0 / (1.0 - p))


def _packed_rows(packed: PackedSequence) -> Tensor:
    """For each row of ``packed.data``, the index of its sequence in the caller's batch order."""
    batch_sizes = packed.batch_sizes.tolist()
    sorted_pos = torch.cat([torch.arange(n) for n in batch_sizes]) if batch_sizes else torch.zeros(0, dtype=torch.long)
    if packed.sorted_indices is None:
        return sorted_pos.to(packed.data.device)
    return packed.sorted_indices.to(packed.data.device)[sorted_pos.to(packed.data.device)]


def _with_data(packed: PackedSequence, data: Tensor) -> PackedSequence:
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


def locked_dropout(
    x: Tensor | PackedSequence,
    p: float = 0.5,
    *,
    training: bool = True,
    batch_first: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor | PackedSequence:
    """Dropout with one mask per sequence, shared over time (variational / locked dropout).

    Args:
        x: a sequence batch ``(T, B, *)`` (``batch_first=False``), ``(B, T, *)``
            (``batch_first=True``), or a :class:`~torch.nn.utils.rnn.PackedSequence`; floating point.
        p: probability of **dropping** a feature of a sequence for all its time steps, in ``[0, 1]``
            (default: 0.5). ``p = 1`` returns zeros.
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        batch_first: whether a tensor input is ``(B, T, *)`` rather than ``(T, B, *)``; ignored for
            a PackedSequence (default: False).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: ``(T, B, *)``, ``(B, T, *)`` or a PackedSequence with data ``(sum of lengths, *)``.
        - Output: the same shape (a PackedSequence for a PackedSequence). The mask is ``(B, *)``.

    Example:
        >>> import torch
        >>> from dropkit.functional import locked_dropout
        >>> x = torch.ones(5, 2, 3)                     # (T, B, D)
        >>> y = locked_dropout(x, 0.5, generator=torch.Generator().manual_seed(0))
        >>> bool((y == y[0]).all())                     # every time step has the same mask
        True
        >>> torch.equal(locked_dropout(x, 0.5, training=False), x)
        True
    """
    where = "locked_dropout"
    p = check_probability(where, "p", p)
    if isinstance(x, PackedSequence):
        check_floating(where, x.data)
        if x.data.dim() < 2:
            raise ValueError(f"{where}: expected PackedSequence data of 2 or more dims (rows, *), got shape {tuple(x.data.shape)}")
        if not training or p == 0.0:
            return x
        data = x.data
        if p == 1.0:
            return _with_data(x, data * 0.0)
        batch = int(x.batch_sizes[0]) if len(x.batch_sizes) else 0
        mask = sequence_keep_mask(batch, tuple(data.shape[1:]), p, like=data, generator=generator)
        return _with_data(x, data * mask[_packed_rows(x)])
    check_floating(where, x)
    if x.dim() < 3:
        layout = "(B, T, *)" if batch_first else "(T, B, *)"
        raise ValueError(f"{where}: expected 3D or higher input {layout}, got shape {tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask = sequence_keep_mask(x.shape[0 if batch_first else 1], tuple(x.shape[2:]), p, like=x, generator=generator)
    return x * (mask.unsqueeze(1) if batch_first else mask.unsqueeze(0))

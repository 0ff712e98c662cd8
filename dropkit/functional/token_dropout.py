"""Token (patch) dropout: keep a random subset of the tokens of each sample.

Li, Fan, Hu, Feichtenhofer, He, "Scaling Language-Image Pre-training via Masking" (FLIP),
CVPR 2023, https://arxiv.org/abs/2212.00794; Liu et al., "PatchDropout: Economizing Vision
Transformers Using Patch Dropout", WACV 2023, https://arxiv.org/abs/2208.07220.

Semantics follow timm's ``PatchDropout``: in training, ``num_keep = max(1, floor(L * (1 - p)))`` of
the ``L`` non-prefix tokens are chosen uniformly at random per sample (without replacement) and
gathered; the ``num_prefix_tokens`` leading tokens (CLS, register tokens) are always kept in front.
Kept tokens are **not** rescaled (the sequence gets shorter, no unit is zeroed), and the model is
evaluated on all tokens. ``p`` is the probability of **dropping** a token (the fraction dropped).

Differences from timm: ``floor`` is taken with a small tolerance, so ``L = 10, p = 0.7`` keeps 3
tokens (timm's ``int(10 * (1 - 0.7))`` gives 2 from floating-point rounding); a ``generator`` can
be passed; in evaluation ``return_indices=True`` returns every index instead of None.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dropkit._random import generator_kwargs
from dropkit._validation import check_floating, check_positive_int, check_probability, check_rank

__all__ = ["token_dropout", "num_kept_tokens"]


def num_kept_tokens(num_tokens: int, p: float) -> int:
    """How many of ``num_tokens`` non-prefix tokens :func:`token_dropout` keeps: ``max(1, floor(L (1 - p)))``."""
    check_positive_int("num_kept_tokens", "num_tokens", num_tokens, minimum=0)
    p = check_probability("num_kept_tokens", "p", p, allow_one=False)
    return max(1, math.floor(num_tokens * (1.0 - p) + 1e-9)) if num_tokens > 0 else 0


def token_dropout(
    x: Tensor,
    p: float = 0.5,
    *,
    num_prefix_tokens: int = 0,
    ordered: bool = False,
    return_indices: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Keep a random ``1 - p`` fraction of each sample's tokens (always the prefix tokens).

    Args:
        x: tokens ``(N, L, D)``, floating point.
        p: fraction of the non-prefix tokens to **drop**, in ``[0, 1)`` (default: 0.5); at least one
            token is always kept.
        num_prefix_tokens: leading tokens that are never dropped, e.g. 1 for a CLS token
            (default: 0).
        ordered: keep the kept tokens in their original order (default: False, random order, as
            in timm; attention does not care, position embeddings are already added).
        return_indices: also return the indices of the kept tokens among the non-prefix ones
            (default: False).
        training: drop when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the choice of tokens; the global one when None.

    Shape:
        - Input: ``(N, L, D)``.
        - Output: ``(N, P + K, D)`` with ``P = num_prefix_tokens`` and
          ``K = max(1, floor((L - P)(1 - p)))`` in training, ``(N, L, D)`` in evaluation; indices
          ``(N, K)`` (``(N, L - P)`` in evaluation).

    Example:
        >>> import torch
        >>> from dropkit.functional.token_dropout import token_dropout
        >>> x = torch.arange(11.0).view(1, 11, 1)          # token 0 is CLS
        >>> y, idx = token_dropout(x, 0.5, num_prefix_tokens=1, ordered=True, return_indices=True,
        ...                        generator=torch.Generator().manual_seed(0))
        >>> y.shape, y[0, 0, 0].item()                     # CLS kept first, 5 of 10 patches kept
        (torch.Size([1, 6, 1]), 0.0)
        >>> torch.equal(y[0, 1:, 0], idx[0].float() + 1)
        True
    """
    where = "token_dropout"
    check_floating(where, x)
    check_rank(where, x, (3,), "(N, L, D)")
    p = check_probability(where, "p", p, allow_one=False)
    check_positive_int(where, "num_prefix_tokens", num_prefix_tokens, minimum=0)
    n, length = x.shape[0], x.shape[1]
    if num_prefix_tokens >= length:
        raise ValueError(
            f"{where}: num_prefix_tokens must be < the number of tokens {length}, got {num_prefix_tokens}"
        )
    num_tokens = length - num_prefix_tokens
    if not training or p == 0.0:
        if not return_indices:
            return x
        return x, torch.arange(num_tokens, device=x.device).expand(n, num_tokens)
    prefix, tokens = x[:, :num_prefix_tokens], x[:, num_prefix_tokens:]
    keep = num_kept_tokens(num_tokens, p)
    noise = torch.rand(n, num_tokens, device=x.device, **generator_kwargs(generator))
    idx = noise.argsort(dim=1)[:, :keep]
    if ordered:
        idx = idx.sort(dim=1).values
    kept = tokens.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[2]))
    out = torch.cat((prefix, kept), dim=1) if num_prefix_tokens else kept
    return (out, idx) if return_indices else out

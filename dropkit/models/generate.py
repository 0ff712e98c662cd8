"""Autoregressive sampling from a language model that maps ``(N, T)`` ids to ``(N, T, V)`` logits.

nanoGPT's ``generate``: the context is cropped to the last ``block_size`` tokens, the logits of the
last position are divided by ``temperature``, optionally cut to the ``top_k`` largest, and the next
token is drawn from their softmax (or taken as the argmax with ``greedy=True``). The draws come from
a ``torch.Generator`` seeded with ``seed``, so a seed always gives the same text for the same weights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dropkit._validation import check_positive_int

__all__ = ["generate"]


@torch.inference_mode()
def generate(
    model: nn.Module,
    prompt: Tensor,
    tokens: int,
    *,
    block_size: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    seed: int = 0,
) -> Tensor:
    """Continue ``prompt`` by ``tokens`` tokens; return prompt and continuation as one 1-D tensor.

    The model is put in eval mode (no dropout) for the call and restored afterwards.

    Args:
        model: ``(N, T)`` ids -> ``(N, T, V)`` logits.
        prompt: 1-D int64 ids, at least one.
        tokens: how many tokens to add (>= 1).
        block_size: the longest context the model takes (older tokens are cropped).
        temperature: divides the logits; below 1 sharpens, above 1 flattens (> 0; default: 1.0).
        top_k: sample among the ``top_k`` most likely tokens only (default: None, all).
        greedy: take the most likely token every step; ``temperature``, ``top_k`` and ``seed`` are then
            unused (default: False).
        seed: seeds the sampling generator (default: 0).

    Shape:
        - prompt: ``(P,)``; output: ``(P + tokens,)``.

    Example:
        >>> import torch
        >>> from dropkit.models.gpt import GPT
        >>> model = GPT(10, block_size=8, dim=16, heads=2, depth=1)
        >>> a = generate(model, torch.tensor([1, 2]), 5, block_size=8, temperature=0.8, seed=3)
        >>> b = generate(model, torch.tensor([1, 2]), 5, block_size=8, temperature=0.8, seed=3)
        >>> a.shape, torch.equal(a, b)
        (torch.Size([7]), True)
    """
    where = "generate"
    check_positive_int(where, "tokens", tokens)
    check_positive_int(where, "block_size", block_size)
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{where}: temperature must be a finite number > 0 (use greedy=True for argmax decoding), got {temperature!r}")
    if not isinstance(prompt, Tensor) or prompt.dim() != 1 or prompt.numel() == 0:
        got = tuple(prompt.shape) if isinstance(prompt, Tensor) else type(prompt).__name__
        raise ValueError(f"{where}: prompt must be a non-empty 1-D tensor of ids, got {got}")
    if top_k is not None:
        check_positive_int(where, "top_k", top_k)
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(int(seed))
    seq = prompt.to(device=device, dtype=torch.int64)
    was_training = model.training
    model.eval()
    try:
        for _ in range(tokens):
            logits = model(seq[-block_size:].unsqueeze(0))[0, -1].float()
            if greedy:
                nxt = logits.argmax().reshape(1)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.numel():
                    kth = torch.topk(logits, top_k).values[-1]
                    logits = logits.masked_fill(logits < kth, -math.inf)
                nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)
            seq = torch.cat([seq, nxt])
    finally:
        model.train(was_training)
    return seq

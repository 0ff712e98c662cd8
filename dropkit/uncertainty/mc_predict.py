"""``mc_predict``: vectorised Monte-Carlo dropout prediction with BALD and predictive variance.

Gal & Ghahramani 2016, "Dropout as a Bayesian Approximation: Representing Model Uncertainty in Deep
Learning", ICML, https://arxiv.org/abs/1506.02142 (MC averaging of T stochastic passes); Houlsby, Huszár,
Ghahramani, Lengyel 2011, "Bayesian Active Learning for Classification and Preference Learning",
https://arxiv.org/abs/1112.5745 (BALD: mutual information between prediction and weights).

The T passes are not run as a Python loop: the batch is replicated ``k`` times along the batch dimension
(pass-major, ``k`` chosen from a memory budget) and each replicated batch runs once. When the model is a
chain of modules (``nn.Sequential``, or a module whose ``forward`` only calls sub-modules one after another,
found with ``torch.fx``) and its first stochastic module comes late, the deterministic prefix runs once
on the un-replicated batch and only the rest is replicated.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dropkit._validation import check_choice, check_positive_int
from dropkit.surgery.mc_mode import mc_mode
from dropkit.surgery.stochastic import has_stochastic_layer, is_stochastic

__all__ = ["MCPrediction", "mc_predict", "split_deterministic_prefix"]

TASKS = ("classification", "regression")
OUTPUTS = ("logits", "log_probs", "probs")


@dataclass
class MCPrediction:
    """What :func:`mc_predict` returns. Entropies are in nats.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        samples_used: T, the number of stochastic passes.
        mean: predictive mean: class probabilities ``(N, C)`` (classification) or the mean output
            ``(N, *)`` (regression).
        variance: regression only: the variance of the T outputs (``1/T`` normalisation, the model
            (epistemic) part of Gal's predictive variance; add ``1/tau`` for the noise part), else None.
        entropy: classification only: predictive entropy ``H[mean p]``, ``(N,)``.
        expected_entropy: classification only: ``E_t H[p_t]`` (the aleatoric part), ``(N,)``.
        mutual_information: classification only: BALD, ``entropy - expected_entropy`` (the epistemic
            part), ``(N,)``.
        samples: the T raw per-pass model outputs ``(T, N, *)`` (logits, log-probabilities or
            probabilities for classification, as ``output`` says) when ``return_samples=True``, else None.
    """

    task: str
    samples_used: int
    mean: Tensor
    variance: Tensor | None = None
    entropy: Tensor | None = None
    expected_entropy: Tensor | None = None
    mutual_information: Tensor | None = None
    samples: Tensor | None = None


class _LeafTracer(torch.fx.Tracer):
    """Trace one level: every sub-module call becomes a ``call_module`` node."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


def _has_hooks(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or getattr(m, "_forward_hooks_with_kwargs", None))


def _as_chain(module: nn.Module) -> list[nn.Module] | None:
    """The modules ``module.forward`` calls one after another on a single input, or None if it does more."""
    if isinstance(module, nn.Sequential):
        return list(module)
    if _has_hooks(module):
        return None
    try:
        graph = _LeafTracer().trace(module)
    except Exception:  # noqa: BLE001 - any tracing failure just means "not a chain"
        return None
    nodes = list(graph.nodes)
    if len(nodes) < 2 or nodes[0].op != "placeholder" or nodes[-1].op != "output":
        return None
    chain, prev = [], nodes[0]
    for node in nodes[1:-1]:
        if node.op != "call_module" or node.args != (prev,) or node.kwargs:
            return None
        chain.append(module.get_submodule(str(node.target)))
        prev = node
    if nodes[-1].args != (prev,) or not chain:
        return None
    return chain


def _contains_stochastic(m: nn.Module) -> bool:
    return any(is_stochastic(s) for s in m.modules())


def split_deterministic_prefix(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module]] | None:
    """Split a chain-like model into ``(prefix, rest)`` at its first module that contains randomness.

    Returns None when the model is not a chain (its ``forward`` does more than call sub-modules in a row
    on one input) or has hooks on a level that would be flattened. Sub-chains are flattened recursively,
    so ``MLP -> net (Sequential) -> [Flatten, Linear, ReLU, Dropout, ...]`` splits before the Dropout.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Dropout(0.1), nn.Linear(8, 2)))
        >>> prefix, rest = split_deterministic_prefix(net)
        >>> [type(m).__name__ for m in prefix], [type(m).__name__ for m in rest]
        (['Linear', 'ReLU'], ['Dropout', 'Linear'])
    """
    if _has_hooks(model):
        return None
    chain = _as_chain(model)
    if chain is None:
        return None
    prefix: list[nn.Module] = []
    while chain:
        head = chain[0]
        if not _contains_stochastic(head):
            prefix.append(chain.pop(0))
            continue
        inner = None if is_stochastic(head) else _as_chain(head)
        if inner is None:
            break
        chain = inner + chain[1:]
    return prefix, chain


def _looks_deterministic(prefix: list[nn.Module], probe: Tensor) -> bool:
    """Guard against random layers dropkit does not recognise: the prefix must repeat itself exactly."""
    devices = [probe.device] if probe.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        a, b = _run(prefix, probe), _run(prefix, probe)
    return isinstance(a, Tensor) and isinstance(b, Tensor) and torch.equal(a, b)


def _run(modules: list[nn.Module], h: Any) -> Any:
    for m in modules:
        h = m(h)
    return h


def _replicate(h: Tensor, k: int) -> Tensor:
    return h if k == 1 else h.repeat(k, *([1] * (h.dim() - 1)))


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Fork the RNG of the CPU (and of ``device`` if CUDA) so a seeded run leaves global state untouched."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            _seed_all(seed, device)
        yield


def _seed_all(seed: int, device: torch.device) -> None:
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


def _softmax_and_entropy(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax over the last dim and its entropy ``log s - sum p z`` (``z = logits - max``, ``s = sum e^z``).

    Written out because ``torch.log_softmax`` over a short last dim (10 classes) is about 4x slower on the
    CPU than these five vectorised ops. A ``-inf`` logit gets ``p = 0`` and adds nothing to the entropy.
    """
    z = logits - logits.amax(-1, keepdim=True)
    e = z.exp()
    s = e.sum(-1, keepdim=True)
    p = e.div_(s)
    ent = s.log_().squeeze(-1) - (p * z.clamp_min_(torch.finfo(z.dtype).min)).sum(-1)
    return p, ent


class _Accumulator:
    """Running sums over passes, so memory does not grow with T (unless samples are kept)."""

    def __init__(self, where: str, task: str, output: str, keep_samples: bool, dtype: torch.dtype) -> None:
        self.where, self.task, self.output, self.keep, self.dtype = where, task, output, keep_samples, dtype
        self.count = 0
        self.sum: Tensor | None = None
        self.sq: Tensor | None = None
        self.shift: Tensor | None = None
        self.ent: Tensor | None = None
        self.kept: list[Tensor] = []

    def add(self, out: Tensor) -> None:
        """``out`` has shape ``(k, N, *)``."""
        if self.task == "classification":
            if out.dim() < 3 or out.shape[-1] < 2:
                raise ValueError(
                    f"{self.where}: task='classification' needs model outputs of shape (N, C) with C >= 2 "
                    f"classes, got per-pass shape {tuple(out.shape[1:])}; use task='regression' for real-valued outputs"
                )
            if self.keep:
                self.kept.append(out)
            # Per-pass softmax and entropy in (at least) float32; the sums over passes in float64, so that
            # H(mean) - mean(H) (the mutual information) does not lose its small differences.
            out = out.float() if out.dtype in (torch.float16, torch.bfloat16) else out
            if self.output == "logits":
                p, ent = _softmax_and_entropy(out)
            else:
                if self.output == "log_probs":
                    logp, p = out, out.exp()
                else:
                    p, logp = out, out.clamp_min(torch.finfo(out.dtype).tiny).log()
                ent = -(p * logp).sum(-1)
            p_sum, ent_sum = p.sum(0, dtype=torch.float64), ent.sum(0, dtype=torch.float64)
            self.sum = p_sum if self.sum is None else self.sum + p_sum
            self.ent = ent_sum if self.ent is None else self.ent + ent_sum
        else:
            x = out.double()
            if self.shift is None:
                self.shift = x[0].clone()
            d = x - self.shift
            self.sum = d.sum(0) if self.sum is None else self.sum + d.sum(0)
            self.sq = (d * d).sum(0) if self.sq is None else self.sq + (d * d).sum(0)
            if self.keep:
                self.kept.append(out)
        self.count += out.shape[0]

    def result(self) -> MCPrediction:
        dtype = self.dtype
        assert self.sum is not None
        T = self.count
        samples = torch.cat(self.kept, 0) if self.keep else None
        if self.task == "classification":
            mean = self.sum / T
            entropy = -torch.special.xlogy(mean, mean).sum(-1)
            expected = self.ent / T
            mi = (entropy - expected).clamp_min(0.0)
            return MCPrediction(self.task, T, mean.to(dtype), entropy=entropy.to(dtype),
                                expected_entropy=expected.to(dtype), mutual_information=mi.to(dtype), samples=samples)
        assert self.sq is not None and self.shift is not None
        m = self.sum / T
        var = (self.sq / T - m * m).clamp_min(0.0)
        return MCPrediction(self.task, T, (m + self.shift).to(dtype), variance=var.to(dtype), samples=samples)


# Replicating the batch only pays while a chunk's activations stay cache-sized: measured on a 2-core
# AMD EPYC (benchmarks/bench_mc_predict.py, 10000 x 784 MLP, T = 50), one pass per chunk (8 MB of
# activations) took 0.60 s against 1.32 s for 256 MB chunks; small batches still get many passes per chunk.
_CACHE_BYTES = 8 * 2**20


def _bytes_per_pass(modules: list[nn.Module], h: Tensor) -> tuple[Any, int]:
    """Run ``modules`` once on ``h`` and add up the bytes of every leaf module's output (an upper bound)."""
    total = [h.numel() * h.element_size()]

    def hook(m: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, Tensor):
            total[0] += out.numel() * out.element_size()

    leaves = [s for m in modules for s in m.modules() if not next(iter(s.children()), None)]
    handles = [leaf.register_forward_hook(hook) for leaf in leaves]
    try:
        out = _run(modules, h)
    finally:
        for handle in handles:
            handle.remove()
    return out, total[0]


def mc_predict(
    model: nn.Module,
    x: Tensor,
    samples: int = 50,
    *,
    task: str = "classification",
    chunk_size: int | None = None,
    memory_budget: int = 256 * 2**20,
    consistent_masks: bool = False,
    seed: int | None = None,
    reuse_prefix: bool = True,
    output: str = "logits",
    output_transform: Callable[[Any], Tensor] | None = None,
    return_samples: bool = False,
    check_stochastic: bool = True,
) -> MCPrediction:
    """Run ``samples`` stochastic passes of ``model`` on ``x`` inside :func:`~dropkit.surgery.mc_mode`.

    Args:
        model: the network; its ``training`` flags are restored afterwards.
        x: one batch, batch dimension first.
        samples: T, the number of stochastic passes (default: 50).
        task: ``"classification"`` (outputs ``(N, C)``) or ``"regression"`` (any shape) (default:
            ``"classification"``).
        chunk_size: passes per replicated forward call (default: None: as many as keep one chunk's
            activations within 8 MiB and ``memory_budget``, estimated from the output sizes of one
            pass; larger chunks are slower on the CPU once they leave the cache).
        memory_budget: bytes allowed for one replicated forward when ``chunk_size`` is None
            (default: 256 MiB).
        consistent_masks: run pass ``t`` with the RNG seeded to ``seed + t``, one forward per pass
            (prefix still shared), so pass ``t`` draws the same masks for every batch of the same shape
            and equals ``torch.manual_seed(seed + t); model(x)`` in ``mc_mode`` bit for bit (default: False).
        seed: seed for a reproducible run; the global RNG state is left unchanged when given (default:
            None, use the global RNG; 0 when ``consistent_masks`` is True).
        reuse_prefix: run the deterministic prefix of a chain-like model once (default: True).
        output: classification outputs are ``"logits"``, ``"log_probs"`` or ``"probs"`` (default: ``"logits"``).
        output_transform: maps the model's raw output to a tensor, e.g. ``lambda o: o.logits`` for
            Hugging Face models (default: None).
        return_samples: also return every pass ``(T, N, *)`` (default: False).
        check_stochastic: raise when no stochastic layer is found (default: True; set False for a
            custom random layer dropkit does not recognise).

    Returns:
        An :class:`MCPrediction`.

    Raises:
        ValueError: ``samples < 1``; no stochastic layer (every pass would be identical); a classification
            task whose outputs are not ``(N, C)`` with ``C >= 2``; outputs without the batch dimension first.

    Shape:
        - Input: ``(N, *)``.
        - Output: ``mean`` ``(N, C)`` or ``(N, *)``; ``entropy``, ``mutual_information`` ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from dropkit.uncertainty import mc_predict
        >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
        >>> pred = mc_predict(net, torch.randn(8, 4), samples=20, seed=0)
        >>> pred.mean.shape, pred.mutual_information.shape
        (torch.Size([8, 3]), torch.Size([8]))
        >>> bool(torch.allclose(pred.mean.sum(-1), torch.ones(8)))
        True
    """
    where = "mc_predict"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{where}: x must have a batch dimension first, got a 0-dim tensor")
    samples = check_positive_int(where, "samples", samples)
    task = check_choice(where, "task", task, TASKS)
    output = check_choice(where, "output", output, OUTPUTS)
    if chunk_size is not None:
        chunk_size = check_positive_int(where, "chunk_size", chunk_size)
    memory_budget = check_positive_int(where, "memory_budget", memory_budget)
    if seed is not None:
        seed = check_positive_int(where, "seed", seed, minimum=0)
    if check_stochastic and not has_stochastic_layer(model):
        raise ValueError(
            f"{where}: model must contain a stochastic layer (dropout, DropPath, ... with a rate > 0), got "
            f"{type(model).__name__} with none, so all {samples} passes would be identical; add dropout "
            "(dropkit.surgery.insert_dropout) or pass check_stochastic=False for a random layer dropkit does not know"
        )
    if consistent_masks and seed is None:
        seed = 0
    n = x.shape[0]
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    acc = _Accumulator(where, task, output, return_samples, dtype)

    def finish(out: Any, k: int) -> Tensor:
        if output_transform is not None:
            out = output_transform(out)
        if not isinstance(out, Tensor):
            raise TypeError(f"{where}: the model output must be a Tensor (use output_transform), got {type(out).__name__}")
        if out.dim() == 0 or out.shape[0] != k * n:
            raise ValueError(f"{where}: model outputs must keep the batch dimension first, expected {k * n} rows, "
                             f"got shape {tuple(out.shape)}")
        return out.reshape(k, n, *out.shape[1:])

    with torch.no_grad(), mc_mode(model), _seeded(seed, x.device):
        rest: list[nn.Module] = [model]
        h: Any = x
        if reuse_prefix:
            split = split_deterministic_prefix(model)
            if split is not None and split[0] and split[1]:
                prefix, tail = split
                h = _run(prefix, x)
                if not isinstance(h, Tensor) or h.dim() == 0 or h.shape[0] != n:
                    h = x
                elif not _looks_deterministic(prefix, x[: min(n, 4)]):
                    warnings.warn(f"{where}: the prefix before the first known stochastic module gave two different "
                                  "outputs for the same input, so it is not reused; register its random layer with "
                                  "dropkit.surgery.register_stochastic", stacklevel=2)
                    h = x
                else:
                    rest = tail
        if consistent_masks:
            assert seed is not None
            for t in range(samples):
                _seed_all(seed + t, x.device)
                acc.add(finish(_run(rest, h), 1))
        else:
            done = 0
            k = chunk_size
            if k is None:
                out, per_pass = _bytes_per_pass(rest, h)
                acc.add(finish(out, 1))
                done = 1
                k = max(1, min(samples, min(memory_budget, _CACHE_BYTES) // max(per_pass, 1)))
            while done < samples:
                step = min(k, samples - done)
                acc.add(finish(_run(rest, _replicate(h, step)), step))
                done += step
    return acc.result()

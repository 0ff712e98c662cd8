"""mc_predict: equals the explicit loop (in distribution; exactly under consistent masks), prefix reuse,
chunking, BALD / variance formulas, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropkit.models import MLP
from dropkit.surgery import mc_mode
from dropkit.uncertainty import mc_predict, split_deterministic_prefix


def mlp() -> MLP:
    torch.manual_seed(3)
    return MLP(20, (32, 16), 4, hidden_p=0.5).eval()


def explicit_loop(model: nn.Module, x: torch.Tensor, T: int, seed: int | None = None) -> torch.Tensor:
    outs = []
    with torch.no_grad(), mc_mode(model):
        for t in range(T):
            if seed is not None:
                torch.manual_seed(seed + t)
            outs.append(model(x))
    return torch.stack(outs)


def test_matches_explicit_loop_in_distribution() -> None:
    model, x, T = mlp(), torch.randn(6, 20), 400
    loop = explicit_loop(model, x, T).softmax(-1)
    pred = mc_predict(model, x, T, chunk_size=64, seed=1)
    se = (loop.var(0) / T).sqrt()  # standard error of one mean; the difference of two has sqrt(2) of it
    assert torch.all((pred.mean - loop.mean(0)).abs() <= 6 * math.sqrt(2) * se + 1e-6)
    assert not model.training and not any(m.training for m in model.modules())


def test_consistent_masks_equal_explicit_seeded_loop_exactly() -> None:
    model, x = mlp(), torch.randn(5, 20)
    loop = explicit_loop(model, x, 7, seed=11)
    for reuse in (True, False):
        pred = mc_predict(model, x, 7, consistent_masks=True, seed=11, reuse_prefix=reuse, return_samples=True)
        assert torch.equal(pred.samples, loop)
    # the same masks again for another batch of the same shape at the same pass index
    x2 = torch.randn(5, 20)
    a = mc_predict(model, x2, 3, consistent_masks=True, seed=11, return_samples=True).samples
    assert torch.equal(a, explicit_loop(model, x2, 3, seed=11))


def test_prefix_reuse_equals_no_reuse_for_a_fixed_seed_and_runs_prefix_once() -> None:
    model, x = mlp(), torch.randn(9, 20)
    first = model.net[1]
    calls = []
    handle = first.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    with_reuse = mc_predict(model, x, 12, chunk_size=5, seed=4, return_samples=True)
    reuse_calls = list(calls)
    calls.clear()
    without = mc_predict(model, x, 12, chunk_size=5, seed=4, reuse_prefix=False, return_samples=True)
    handle.remove()
    assert torch.allclose(with_reuse.samples, without.samples, atol=1e-6, rtol=0)
    assert reuse_calls[0] == 9 and sum(reuse_calls) == 9 + 2 * 4  # once, plus the 4-row determinism probe twice
    assert sum(calls) == 9 * 12  # without reuse the first Linear sees every replicated row
    prefix, rest = split_deterministic_prefix(model)
    assert [type(m).__name__ for m in prefix] == ["Flatten", "Linear", "ReLU"]
    assert type(rest[0]).__name__ == "Dropout"


def test_no_prefix_split_for_non_chain_forward() -> None:
    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.d = nn.Linear(4, 4), nn.Dropout(0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.d(self.a(x))

    assert split_deterministic_prefix(Skip()) is None
    assert mc_predict(Skip(), torch.randn(3, 4), 4, task="regression").mean.shape == (3, 4)


def test_seed_reproducible_and_global_rng_untouched() -> None:
    model, x = mlp(), torch.randn(4, 20)
    state = torch.get_rng_state()
    a = mc_predict(model, x, 10, seed=5).mean
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, mc_predict(model, x, 10, seed=5).mean)
    assert not torch.equal(a, mc_predict(model, x, 10, seed=6).mean)


@pytest.mark.parametrize("seed", [5, None])
def test_consistent_masks_leave_the_global_rng_untouched(seed: int | None) -> None:
    # Issue 21: the per-pass reseeding of consistent_masks ran outside the fork, so the global generator
    # ended at seed + T - 1 whatever state it had before. seed=None means 0 here, also a given seed.
    model, x = mlp(), torch.randn(4, 20)
    torch.manual_seed(123)
    torch.rand(3)
    state = torch.get_rng_state()
    a = mc_predict(model, x, 6, consistent_masks=True, seed=seed, return_samples=True).samples
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, explicit_loop(model, x, 6, seed=0 if seed is None else seed))


def test_memory_budget_chunks_and_counts_every_pass() -> None:
    model, x = mlp(), torch.randn(7, 20)
    for budget in (1, 10_000, 2**30):
        pred = mc_predict(model, x, 13, memory_budget=budget, return_samples=True)
        assert pred.samples.shape == (13, 7, 4) and pred.samples_used == 13


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("chunking", [{}, {"memory_budget": 1}, {"chunk_size": 4}, {"chunk_size": 12}])
def test_mean_counts_every_chunk_without_kept_samples(task: str, chunking: dict) -> None:
    # The CLI keeps no samples: its mean must still average every pass, including the 1-pass chunk the
    # automatic chunking starts with and a 1-pass remainder (13 = 4 + 4 + 4 + 1 = 12 + 1). The same seed
    # draws the same masks with and without return_samples, so the kept samples are the oracle.
    model, x, T = mlp(), torch.randn(7, 20), 13
    kept = mc_predict(model, x, T, task=task, seed=3, return_samples=True, **chunking)
    pred = mc_predict(model, x, T, task=task, seed=3, **chunking)
    assert pred.samples is None and pred.samples_used == T and kept.samples.shape[0] == T
    s = kept.samples.double()
    if task == "classification":
        p = s.softmax(-1)
        assert torch.allclose(pred.mean.double(), p.mean(0), atol=1e-6, rtol=0)
        assert torch.allclose(pred.expected_entropy.double(), -(p * p.log()).sum(-1).mean(0), atol=1e-5, rtol=0)
    else:
        assert torch.allclose(pred.mean.double(), s.mean(0), atol=1e-5, rtol=0)
        assert torch.allclose(pred.variance.double(), s.var(0, unbiased=False), atol=1e-5, rtol=1e-4)


def test_bald_entropy_formulas_against_samples() -> None:
    model, x = mlp(), torch.randn(8, 20)
    pred = mc_predict(model, x, 30, seed=0, return_samples=True)
    p = pred.samples.double().softmax(-1)
    mean = p.mean(0)
    h = -(mean * mean.log()).sum(-1)
    eh = -(p * p.log()).sum(-1).mean(0)
    assert torch.allclose(pred.mean.double(), mean, atol=1e-6)
    assert torch.allclose(pred.entropy.double(), h, atol=1e-5)
    assert torch.allclose(pred.expected_entropy.double(), eh, atol=1e-5)
    assert torch.allclose(pred.mutual_information.double(), (h - eh).clamp_min(0), atol=1e-5)
    assert torch.all(pred.mutual_information > 0)  # dropout 0.5 disagrees between passes


def test_masked_class_with_minus_inf_logit_adds_no_entropy() -> None:
    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.net(x)
            return torch.cat([out[:, :3], torch.full_like(out[:, 3:], -math.inf)], 1)

    model = Masked().eval()
    x = torch.randn(6, 3)
    pred = mc_predict(model, x, 12, seed=1, return_samples=True)
    p3 = pred.samples[..., :3].double().softmax(-1)
    assert torch.all(pred.mean[:, 3] == 0) and torch.isfinite(pred.entropy).all()
    assert torch.allclose(pred.expected_entropy.double(), -(p3 * p3.log()).sum(-1).mean(0), atol=1e-5)


def test_mutual_information_zero_when_passes_agree() -> None:
    net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 4))
    with torch.no_grad():
        net[2].weight.zero_()
        net[2].bias.copy_(torch.tensor([1.0, 0.0, -1.0, 2.0]))
    pred = mc_predict(net, torch.randn(5, 3), 6)
    expected = torch.tensor([1.0, 0.0, -1.0, 2.0]).softmax(0)
    assert torch.allclose(pred.mean, expected.expand(5, 4), atol=1e-6)
    assert torch.allclose(pred.mutual_information, torch.zeros(5), atol=1e-6)
    assert torch.allclose(pred.entropy, -(expected * expected.log()).sum().expand(5), atol=1e-6)


def test_regression_mean_and_variance() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    pred = mc_predict(net, torch.randn(10, 3) + 100.0, 25, task="regression", return_samples=True, seed=2)
    s = pred.samples.double()
    assert torch.allclose(pred.mean.double(), s.mean(0), atol=1e-5)
    assert torch.allclose(pred.variance.double(), s.var(0, unbiased=False), rtol=1e-4, atol=1e-8)
    assert pred.entropy is None and pred.mutual_information is None


def test_output_probs_and_transform() -> None:
    net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 2), nn.Softmax(-1))
    x = torch.randn(4, 3)
    a = mc_predict(net, x, 5, output="probs", seed=0)
    b = mc_predict(nn.Sequential(*net[:3]), x, 5, seed=0)
    assert torch.allclose(a.mean, b.mean, atol=1e-6)
    c = mc_predict(net[:3], x, 5, seed=0, output_transform=lambda out: out * 1.0)
    assert torch.allclose(c.mean, b.mean)


def test_huggingface_sequence_classifier() -> None:
    try:
        import transformers
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"transformers cannot be imported here: {exc}")
    config = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=16, num_labels=3,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.3, classifier_dropout=0.0)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    pred = mc_predict(model, torch.randint(0, 50, (4, 6)), 8, output_transform=lambda o: o.logits, seed=0,
                      return_samples=True)
    assert pred.mean.shape == (4, 3) and not torch.equal(pred.samples[0], pred.samples[1])
    assert not any(m.training for m in model.modules())


def test_bad_inputs() -> None:
    model, x = mlp(), torch.randn(3, 20)
    with pytest.raises(ValueError, match="samples must be an integer >= 1, got 0"):
        mc_predict(model, x, 0)
    with pytest.raises(TypeError, match="samples must be an int"):
        mc_predict(model, x, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task must be one of .*did you mean 'classification'"):
        mc_predict(model, x, 2, task="classifcation")
    with pytest.raises(ValueError, match="must contain a stochastic layer"):
        mc_predict(nn.Sequential(nn.Linear(20, 3), nn.Dropout(0.0)), x, 2)
    reg = nn.Sequential(nn.Linear(20, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    with pytest.raises(ValueError, match="task='classification' needs model outputs of shape \\(N, C\\) with C >= 2"):
        mc_predict(reg, x, 2)
    with pytest.raises(ValueError, match="batch dimension first"):
        mc_predict(nn.Sequential(nn.Dropout(0.5), nn.Flatten(0)), x, 2, task="regression", chunk_size=2)
    with pytest.raises(TypeError, match="must be a Tensor \\(use output_transform\\)"):
        mc_predict(nn.Sequential(nn.Linear(20, 3), nn.Dropout(0.5), _Tuple()), x, 2)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 0"):
        mc_predict(model, x, 2, chunk_size=0)


class _Tuple(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x

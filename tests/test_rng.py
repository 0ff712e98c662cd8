"""dropkit.rng: Philox known answers, keep test, streams, restarts and checkpoint replay."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from dropkit._philox_host import philox_rounds
from dropkit.functional import dropout
from dropkit.rng import (
    PhiloxState,
    calls_for,
    checkpoint_context,
    keep_mask,
    keep_scale,
    keep_threshold,
    make_rng,
    philox4x32,
    apply_keep_mask,
    quantized_keep_prob,
    random_bits16,
    randint4x,
    seed_from_generator,
    stream_for,
    traced_keep_params,
)
from tests.philox_known_answers import KNOWN_ANSWERS, seed_of


def _t(v: int) -> torch.Tensor:
    return torch.tensor([v], dtype=torch.int64)


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_matches_random123_known_answers(counter, key, expected) -> None:
    out = philox4x32(_t(key[0]), _t(key[1]), *(_t(c) for c in counter))
    assert tuple(int(o) for o in out) == expected


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_under_torch_func_matches_the_known_answers(counter, key, expected) -> None:
    # Under torch.func transforms the rounds run out of place (vmap cannot batch out= ops), in
    # dropkit._philox_host.philox_rounds: held to the same answers as the in-place rounds.
    counters = torch.tensor([counter], dtype=torch.int64)
    words = torch.func.vmap(lambda c: torch.stack(philox4x32(key[0], key[1], c[0], c[1], c[2], c[3])))(counters)
    assert tuple(int(w) for w in words[0]) == expected


# randint4x's counter is (offset_lo, offset_hi, 0, 0), Triton's layout: it reaches the answers whose c2, c3 are 0
@pytest.mark.parametrize(("counter", "key", "expected"), [kat for kat in KNOWN_ANSWERS if kat[0][2:] == (0, 0)])
def test_randint4x_matches_the_known_answers_its_counters_reach(counter, key, expected) -> None:
    words = randint4x(seed_of(key), _t((counter[1] << 32) | counter[0]))
    assert tuple(int(w) for w in words) == expected


def test_philox_matches_the_host_rounds_on_random_words() -> None:
    # Fresh words each run; the top bit set in half of them exercises products >= 2**63, which the
    # tensor version gets from int64 multiplication wrapping modulo 2**64. The reference is the host
    # rounds on Python integers (exact), held to the same known answers in tests/test_philox_host.py.
    words = torch.randint(0, 2**32, (5, 64), dtype=torch.int64)
    key = tuple(int(k) for k in torch.randint(0, 2**32, (2,)))
    before = words.clone()
    out = torch.stack(philox4x32(torch.tensor(key[0]), torch.tensor(key[1]), *words[:4]))
    assert torch.equal(words, before), "inputs must not be modified"
    for j in range(words.shape[1]):
        counter = tuple(int(words[i, j]) for i in range(4))
        assert tuple(int(v) for v in out[:, j]) == philox_rounds(*key, *counter)
    assert int(out.min()) >= 0 and int(out.max()) < 2**32


@pytest.mark.parametrize("p", [0.0, 2**-17, 0.3, 0.5, 1.0 - 2**-17, 1.0])
def test_keep_mask_is_the_unsigned_test_on_the_bits(p: float) -> None:
    rng = make_rng(int(torch.randint(0, 2**62, ())), int(torch.randint(0, 2**40, ())))
    numel = 1003
    bits = random_bits16(rng, numel)
    assert int(bits.min()) >= 0 and int(bits.max()) < 2**16
    assert torch.equal(keep_mask(rng, (17, 59), p).reshape(-1), bits < keep_threshold(p))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_apply_keep_mask_is_bitwise_the_where_form(dtype: torch.dtype, p: float) -> None:
    x = torch.randn(13, 7, dtype=dtype).t()  # non-contiguous
    x[0, 0], x[1, 1], x[2, 2] = float("nan"), float("-inf"), -0.0
    before = x.clone()
    rng = make_rng(int(torch.randint(0, 2**62, ())), 3)
    expected = torch.where(keep_mask(rng, x.shape, p), x * keep_scale(p), torch.zeros((), dtype=dtype))
    y = apply_keep_mask(x, rng, p)
    assert y.shape == x.shape and y.dtype == dtype
    assert torch.equal(y.contiguous().view(torch.uint8), expected.contiguous().view(torch.uint8))
    assert torch.equal(x.view(torch.uint8) if x.is_contiguous() else x.contiguous().view(torch.uint8),
                       before.contiguous().view(torch.uint8)), "input must not be modified"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_apply_keep_mask_in_16_bits_equals_the_float32_round_trip(dtype: torch.dtype) -> None:
    # Values over many binades, so the scale's rounding is exercised at every exponent.
    x = (torch.randn(20000) * torch.exp(4 * torch.randn(20000))).to(dtype)
    rng = make_rng(int(torch.randint(0, 2**62, ())), 0)
    for p in (0.1, 1 / 3, 0.7):
        direct = apply_keep_mask(x, rng, p)
        via_float32 = apply_keep_mask(x.float(), rng, p).to(dtype)
        assert torch.equal(direct.view(torch.int16), via_float32.view(torch.int16))


def test_apply_keep_mask_is_differentiable_when_grad_is_needed() -> None:
    x = torch.randn(40, dtype=torch.float64, requires_grad=True)
    rng = make_rng(11, 0)
    apply_keep_mask(x, rng, 0.4).sum().backward()
    expected = keep_mask(rng, (40,), 0.4).double() * keep_scale(0.4)
    assert torch.equal(x.grad, expected)


def test_randint4x_splits_seed_and_counter_like_triton() -> None:
    seed, counter = (5 << 32) | 7, (3 << 32) | 11
    direct = philox4x32(_t(7), _t(5), _t(11), _t(3), _t(0), _t(0))
    assert [int(a) for a in randint4x(seed, _t(counter))] == [int(b) for b in direct]


def test_bits_layout_eight_elements_per_call() -> None:
    rng = make_rng(123, 40)
    bits = random_bits16(rng, 20)
    words = torch.stack(randint4x(123, 40 + torch.arange(3)), 1)  # 3 calls cover 20 elements
    for i in range(20):
        w = int(words[i // 8, (i % 8) // 2])
        assert int(bits[i]) == (w >> (16 * (i % 2))) & 0xFFFF
    assert calls_for(20) == 3 and calls_for(16) == 2 and calls_for(0) == 0


@pytest.mark.parametrize("p", [0.0, 1e-6, 0.1, 0.5, 0.9, 1.0 - 1e-7, 1.0])
def test_keep_threshold_quantises_and_scale_is_its_inverse(p: float) -> None:
    t = keep_threshold(p)
    if p == 1.0:
        assert t == 0 and keep_scale(p) == 0.0
        return
    assert 1 <= t <= 65536
    assert t == 1 or abs(quantized_keep_prob(p) - (1 - p)) <= 2**-17
    assert keep_scale(p) * quantized_keep_prob(p) == pytest.approx(1.0, rel=1e-15)


def test_traced_keep_params_equal_the_python_ones() -> None:
    """The tensor twins used under torch.compile: exact equality, including round-half-even ties
    (p = k / 2**17 puts (1 - p) * 2**16 on a .5) and the ends of [0, 1]."""
    gen = torch.Generator().manual_seed(3)
    rates = torch.rand(2000, generator=gen, dtype=torch.float64).tolist()
    ties = [k / 2**17 for k in range(1, 2**17, 997)]
    edges = [0.0, 1e-9, 2**-17, 2**-16, 0.5, 0.25, 0.1, 1.0 - 2**-17, 1.0 - 1e-9, 1.0]
    for p in rates + ties + edges:
        t, s = traced_keep_params(p)
        assert (t.dtype, s.dtype) == (torch.int32, torch.float64)
        assert int(t) == keep_threshold(p) and float(s) == keep_scale(p), p


def test_keep_threshold_rejects_bad_p() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        keep_threshold(1.5)


def test_dropped_fraction_matches_quantised_p() -> None:
    n, p = 200_000, 0.1
    kept = keep_mask(make_rng(9, 0), (n,), p).float().mean().item()
    q = quantized_keep_prob(p)
    assert abs((1 - kept) - (1 - q)) < 6 * math.sqrt(q * (1 - q) / n)


def test_mask_is_a_pure_function_of_seed_offset_index() -> None:
    rng = make_rng(77, 1000)
    full = keep_mask(rng, (64,), 0.5)
    # The tail starting at element 16 (= 2 calls) is the mask of offset + 2.
    assert torch.equal(full[16:], keep_mask(make_rng(77, 1002), (48,), 0.5))
    assert not torch.equal(full, keep_mask(make_rng(78, 1000), (64,), 0.5))


def test_seed_comes_from_torch_generator() -> None:
    torch.manual_seed(3)
    a = seed_from_generator()
    torch.manual_seed(3)
    b = seed_from_generator()
    assert torch.equal(a, b) and int(a[1]) == 0
    g = torch.Generator().manual_seed(5)
    assert not torch.equal(seed_from_generator(g), seed_from_generator(g))


def test_philox_state_advances_and_restores() -> None:
    s = PhiloxState(seed=11)
    r1 = s.next(10)
    r2 = s.next(3)
    assert r1.tolist() == [11, 0] and r2.tolist() == [11, 2] and s.offset == 3
    saved = s.state_dict()
    later = s.next(8)
    s2 = PhiloxState(seed=1)
    s2.load_state_dict(saved)
    assert torch.equal(s2.next(8), later)


def test_state_can_be_drawn_from_manual_seed() -> None:
    torch.manual_seed(123)
    a = PhiloxState()
    torch.manual_seed(123)
    assert PhiloxState().seed == a.seed


def test_data_parallel_ranks_differ_and_restart_reproduces() -> None:
    shape, p = (32, 8), 0.5
    r0 = [keep_mask(stream_for(42, dp_rank=0).next(256), shape, p)]
    r1 = [keep_mask(stream_for(42, dp_rank=1).next(256), shape, p)]
    assert not torch.equal(r0[0], r1[0])
    # "Restart": fresh objects, same base seed -> same masks, step after step.
    a, b = stream_for(42, dp_rank=1), stream_for(42, dp_rank=1)
    for _ in range(3):
        assert torch.equal(keep_mask(a.next(256), shape, p), keep_mask(b.next(256), shape, p))


def test_tensor_parallel_group_shares_replicated_streams_only() -> None:
    tp0, tp1 = stream_for(7, dp_rank=2, tp_rank=0), stream_for(7, dp_rank=2, tp_rank=1)
    assert tp0.seed == tp1.seed
    s0 = stream_for(7, dp_rank=2, tp_rank=0, sharded=True)
    s1 = stream_for(7, dp_rank=2, tp_rank=1, sharded=True)
    assert len({s0.seed, s1.seed, tp0.seed}) == 3
    assert stream_for(7, name="attention").seed != stream_for(7, name="hidden").seed


def test_stream_for_base_seed_from_manual_seed_and_bad_ranks() -> None:
    torch.manual_seed(0)
    a = stream_for(dp_rank=1)
    torch.manual_seed(0)
    assert stream_for(dp_rank=1).seed == a.seed
    with pytest.raises(ValueError, match="dp_rank must be an integer >= 0, got -1"):
        stream_for(1, dp_rank=-1)


def test_make_rng_rejects_negative() -> None:
    with pytest.raises(ValueError, match="got seed=-1"):
        make_rng(-1)


def _grads(fn, x: torch.Tensor, use_ckpt: bool, ctx=None) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    if use_ckpt:
        kw = {"context_fn": ctx} if ctx else {}
        y = checkpoint(fn, x, use_reentrant=False, **kw)
    else:
        y = fn(x)
    (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
    return x.grad


@pytest.mark.parametrize("backend", ["portable", "native"])
def test_checkpoint_recomputes_same_mask_with_seed_per_call(backend: str) -> None:
    def fn(t):
        return dropout(torch.sin(t), 0.5, backend=backend).cos()

    x = torch.randn(6, 10)
    torch.manual_seed(1)
    ref = _grads(fn, x, False)
    torch.manual_seed(1)
    assert torch.equal(_grads(fn, x, True), ref)


def test_checkpoint_context_replays_explicit_streams() -> None:
    x = torch.randn(6, 10)
    s1, s2 = PhiloxState(seed=3), PhiloxState(seed=3)

    def fn_for(stream):
        return lambda t: dropout(torch.sin(t), 0.5, stream=stream).cos()

    ref = _grads(fn_for(s1), x, False)
    got = _grads(fn_for(s2), x, True, lambda: checkpoint_context(s2))
    assert torch.equal(got, ref)
    assert s2.offset == s1.offset  # the stream ends where the un-checkpointed run ended
    # Without the context the recomputation takes fresh counters and the gradient is wrong.
    s3 = PhiloxState(seed=3)
    assert not torch.equal(_grads(fn_for(s3), x, True), ref)


@pytest.mark.parametrize("backend", ["native", "portable"])
def test_checkpoint_context_replays_explicit_generators(backend: str) -> None:
    # checkpoint's preserve_rng_state restores only the default generators: a mask drawn from an explicit
    # generator is redrawn differently on recomputation unless the generator is replayed too.
    from dropkit.functional import bias_dropout_add

    x = torch.randn(6, 10)

    def fn_for(gen):
        return lambda t: bias_dropout_add(torch.sin(t), None, t, 0.5, generator=gen, backend=backend).cos()

    g1, g2, g3 = (torch.Generator().manual_seed(4) for _ in range(3))
    ref = _grads(fn_for(g1), x, False)
    assert torch.equal(_grads(fn_for(g2), x, True, lambda: checkpoint_context(g2)), ref)
    assert torch.equal(g2.get_state(), g1.get_state())  # the generator ends where the plain run left it
    assert not torch.equal(_grads(fn_for(g3), x, True), ref)


def test_checkpoint_context_names_a_bad_argument() -> None:
    with pytest.raises(TypeError, match="must be dropkit.rng.PhiloxState or torch.Generator objects, got int"):
        checkpoint_context(3)

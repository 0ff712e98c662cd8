"""CPU benchmark: activation memory and step time of LoRA dropout, PEFT as is vs ``fuse_lora_dropout``.

A Llama-shaped causal LM built from a ``transformers`` config (random weights, nothing downloaded) gets
PEFT LoRA adapters on all seven projections of every block (``q/k/v/o_proj``, ``gate/up/down_proj``;
r = 16), the QLoRA-style setup. Providers:

- ``peft p=0``: ``lora_dropout = 0`` (PEFT uses ``nn.Identity``), the floor;
- ``peft p=P``: ``lora_dropout = P`` as PEFT runs it (``lora_B(lora_A(nn.Dropout(x)))``);
- ``peft p=P + fuse_lora_dropout``: the same adapters after :func:`dropkit.surgery.fuse_lora_dropout`.

Measured per training step (forward + backward of the LM loss on ``--batch`` x ``--seq`` tokens):
``saved_mb``, the bytes autograd keeps for backward (unique storages seen by saved-tensor hooks, the
parameters and the input ids excluded): the activation memory a GPU would hold at the loss; and wall-clock
medians with 20th/80th percentiles of ``--repeats`` steps after 2 warm-up steps. Writes
``benchmarks/results/cpu/lora_dropout.csv``.

Run: ``.venv/bin/python benchmarks/bench_lora_dropout.py`` (about 1 min on 2 cores). It needs ``peft`` and
``transformers`` (the dev extras).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import time
from pathlib import Path

import torch

from dropkit._io import atomic_write_text
from dropkit.memory import saved_tensor_bytes
from dropkit.surgery import fuse_lora_dropout
from dropkit.train.env_info import cpu_name, git_sha

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(p: float, fuse: bool, args: argparse.Namespace) -> torch.nn.Module:
    import peft
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
        max_position_embeddings=args.seq, attn_implementation="sdpa",
    )
    model = transformers.LlamaForCausalLM(config)
    model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=p, target_modules=TARGETS))
    if fuse:
        fused = fuse_lora_dropout(model)
        assert len(fused) == len(TARGETS) * args.layers, fused
    return model.train()


def timed(step, repeats: int) -> tuple[float, float, float]:
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=5)
    return statistics.median(times), q[0], q[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, default=0.1, help="LoRA dropout rate (default: 0.1)")
    parser.add_argument("--batch", type=int, default=4, help="sequences per step (default: 4)")
    parser.add_argument("--seq", type=int, default=256, help="tokens per sequence (default: 256)")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size (default: 512)")
    parser.add_argument("--intermediate", type=int, default=1408, help="MLP size (default: 1408)")
    parser.add_argument("--layers", type=int, default=4, help="decoder blocks (default: 4)")
    parser.add_argument("--heads", type=int, default=8, help="attention heads (default: 8)")
    parser.add_argument("--vocab", type=int, default=2000, help="vocabulary size (default: 2000)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per provider (default: 7)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cpu/lora_dropout.csv",
                        help="CSV path (default: benchmarks/results/cpu/lora_dropout.csv)")
    args = parser.parse_args()
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=torch.Generator().manual_seed(1))
    meta = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "git_sha": git_sha() or "unknown", "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    shape = f"llama h{args.hidden} i{args.intermediate} L{args.layers}, {args.batch}x{args.seq} tokens, r16 x7"
    rows = []
    for name, p, fuse in (("peft p=0", 0.0, False), (f"peft p={args.p:g}", args.p, False),
                          (f"peft p={args.p:g} + fuse_lora_dropout", args.p, True)):
        model = build(p, fuse, args)

        def step(model=model) -> None:
            model(input_ids=ids, labels=ids).loss.backward()
            model.zero_grad(set_to_none=True)

        kept = saved_tensor_bytes(step, exclude=model.parameters())
        med, p20, p80 = timed(step, args.repeats)
        rows.append({"op": "lora_step", "provider": name, "model": shape, "saved_mb": f"{kept / 2**20:.1f}",
                     "median_ms": f"{med:.1f}", "p20_ms": f"{p20:.1f}", "p80_ms": f"{p80:.1f}", **meta})
        print(f"{name:<36} saved {kept / 2**20:8.1f} MB   step {med:8.1f} ms ({p20:.1f}-{p80:.1f})", flush=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.out, buf.getvalue())
    print(f"wrote {args.out} ({meta['cpu']}, {meta['threads']} threads)")


if __name__ == "__main__":
    main()

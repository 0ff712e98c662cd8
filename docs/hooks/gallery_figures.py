"""The method gallery's figures: each method's real layer applied to an example input, drawn.

Every figure is made at build time from the layer the page documents (seeded, so the build is
reproducible) and written atomically as ``<name>.png`` into a folder the MkDocs hook
(:mod:`gallery_hook`) hands to the site; nothing here is committed. Run it alone to look at them:
``PYTHONPATH=. python docs/hooks/gallery_figures.py OUT_DIR``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from dropkit import functional as DF  # noqa: E402
from dropkit import nn as dnn  # noqa: E402
from dropkit._io import atomic_write_bytes  # noqa: E402
from dropkit.schedules import curriculum_rate, drop_path_rates, early_dropout_rate, late_dropout_rate, linear_rate  # noqa: E402

Panel = tuple[str, torch.Tensor]


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def dropout() -> list[Panel]:
    x = torch.ones(1, 1, 16, 16)
    return [("Dropout(p=0.3)", dnn.Dropout(0.3, generator=_gen())(x)[0, 0]),
            ("Dropout(p=0.3, broadcast_dims=(0,))\non (rows, cols): one mask per column",
             dnn.Dropout(0.3, broadcast_dims=(0,), generator=_gen())(torch.ones(16, 16)))]


def gaussian_dropout() -> list[Panel]:
    return [("GaussianDropout(p=0.3): x · N(1, p/(1-p))", dnn.GaussianDropout(0.3, generator=_gen())(torch.ones(16, 16)))]


def gaussian_noise() -> list[Panel]:
    return [("GaussianNoise(sigma=0.3): x + N(0, sigma²)", dnn.GaussianNoise(0.3, generator=_gen())(torch.ones(16, 16)))]


def alpha_dropout() -> list[Panel]:
    x = torch.randn(16, 16, generator=_gen())
    return [("input (SELU-normalised)", x), ("AlphaDropout(p=0.3)", dnn.AlphaDropout(0.3, generator=_gen())(x))]


def channel_dropout() -> list[Panel]:
    y = dnn.Dropout2d(0.5, generator=_gen())(torch.ones(1, 8, 8, 8))[0]
    return [("Dropout2d(p=0.5): 8 channels of 8×8,\nside by side", torch.cat(list(y), dim=1))]


def drop_block() -> list[Panel]:
    x = torch.ones(1, 1, 32, 32)
    return [("DropBlock2d(p=0.1, block_size=5)", dnn.DropBlock2d(0.1, block_size=5, generator=_gen())(x)[0, 0]),
            ("Dropout(p=0.1), for comparison", dnn.Dropout(0.1, generator=_gen())(x)[0, 0])]


def drop_path() -> list[Panel]:
    y = dnn.DropPath(0.3, generator=_gen())(torch.ones(16, 12))
    return [("DropPath(p=0.3): 16 samples (rows);\na dropped sample skips the branch", y)]


def drop_connect() -> list[Panel]:
    layer = dnn.DropConnectLinear(16, 16, p=0.3, generator=_gen())
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
        w = layer(torch.eye(16)).T  # identity input: the output is the weight matrix this forward used
    return [("DropConnectLinear(16, 16, p=0.3): its weight\nmatrix in one forward (not the activations)", w)]


def locked_dropout() -> list[Panel]:
    y = dnn.LockedDropout(0.3, batch_first=True, generator=_gen())(torch.ones(1, 24, 16))[0]
    return [("LockedDropout(p=0.3): time (rows) × features;\none mask shared over time", y)]


def embedding_dropout() -> list[Panel]:
    emb = dnn.EmbeddingDropout(10, 8, p=0.3, generator=_gen())
    with torch.no_grad():
        emb.weight.fill_(1.0)
    tokens = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 1]])
    y = emb(tokens)[0].detach()
    return [("EmbeddingDropout(p=0.3): tokens (rows) × dims;\na dropped word is dropped everywhere", y)]


def weight_drop() -> list[Panel]:
    w_hh = torch.ones(16, 16)
    return [("weight_drop(W_hh, p=0.5): one mask per\nsequence on the recurrent weights", DF.weight_drop(w_hh, 0.5, generator=_gen()))]


def zoneout() -> list[Panel]:
    g = _gen()
    h, rows = torch.zeros(16), []
    for t in range(1, 13):
        h = DF.zoneout(h, torch.full((16,), float(t)), 0.3, generator=g)
        rows.append(h)
    return [("zoneout(p=0.3): h_t over 12 steps (rows);\na zoned unit keeps its previous value", torch.stack(rows))]


def variational_rnn() -> list[Panel]:
    rnn = dnn.VariationalLSTM(12, 16, input_p=0.3, recurrent_p=0.3, batch_first=True, generator=_gen())
    masks: list[torch.Tensor] = []
    draw = rnn._sequence_mask  # the layer's own mask draw, recorded as its forward calls it

    def record(*args: object, **kwargs: object) -> torch.Tensor:
        masks.append(draw(*args, **kwargs))
        return masks[-1]

    rnn._sequence_mask = record  # type: ignore[method-assign]
    rnn(torch.randn(8, 20, 12, generator=_gen()))
    return [("VariationalLSTM input mask:\n8 sequences × 12 features, every step", masks[0]),
            ("recurrent mask on h:\n8 sequences × 16 units, every step", masks[1])]


def attention() -> list[Panel]:
    g = _gen()
    q = k = torch.randn(1, 1, 12, 8, generator=g)
    v = torch.eye(12).view(1, 1, 12, 12)
    probs = DF.attention(q, k, v, attn_p=0.0, training=False)[0, 0]
    dropped = DF.attention(q, k, v, attn_p=0.3, training=True, generator=g)[0, 0]
    return [("attention probabilities", probs), ("attention(attn_p=0.3), training", dropped)]


def residual_dropout() -> list[Panel]:
    x, branch = torch.zeros(12, 16), torch.ones(12, 16)
    return [("ResidualDropout(p=0.3): x + dropout(branch),\nx = 0, branch = 1", dnn.ResidualDropout(0.3, generator=_gen())(x, branch))]


def token_dropout() -> list[Panel]:
    x = torch.arange(16.0).view(1, 16, 1).expand(1, 16, 6).contiguous()
    y = dnn.TokenDropout(0.5, ordered=True, generator=_gen())(x)[0]
    return [("16 tokens (rows, numbered)", x[0]), ("TokenDropout(p=0.5, ordered=True):\nthe 8 tokens kept", y)]


def dropout_linear() -> list[Panel]:
    layer = dnn.DropoutLinear(16, 16, p=0.3, generator=_gen())
    with torch.no_grad():
        layer.weight.copy_(torch.eye(16))
        layer.bias.zero_()
        y = layer(torch.ones(12, 16))  # identity weight: the output is the dropped input
    return [("DropoutLinear(16, 16, p=0.3) with W = I:\nthe input it dropped (12 rows)", y)]


def concrete_dropout() -> list[Panel]:
    y = DF.concrete_dropout(torch.ones(16, 16), 0.3, temperature=0.1, generator=_gen())
    return [("concrete_dropout(p=0.3, temperature=0.1):\na relaxed, differentiable mask", y)]


def schedules() -> list[Panel]:
    steps = torch.arange(0, 1001, 10)
    curves = {
        "linear_rate": [linear_rate(int(s), 0.3, 1000) for s in steps],
        "early_dropout_rate (cutoff 300)": [early_dropout_rate(int(s), 0.3, 300) for s in steps],
        "late_dropout_rate (start 600)": [late_dropout_rate(int(s), 0.3, 600) for s in steps],
        "curriculum_rate": [curriculum_rate(int(s), 0.3, 10 / 1000) for s in steps],
    }
    return [("__curves__", torch.tensor([list(steps.float())] + list(map(list, curves.values())))), ("__labels__", curves)]  # type: ignore[list-item]


FIGURES: dict[str, Callable[[], list[Panel]]] = {
    f.__name__.replace("_", "-"): f
    for f in (dropout, gaussian_dropout, gaussian_noise, alpha_dropout, channel_dropout, drop_block, drop_path,
              drop_connect, locked_dropout, embedding_dropout, weight_drop, zoneout, variational_rnn, attention,
              residual_dropout, token_dropout, dropout_linear, concrete_dropout, schedules)
}


def render(name: str) -> bytes:
    """The PNG of figure ``name`` (a key of :data:`FIGURES`)."""
    panels = FIGURES[name]()
    if panels[0][0] == "__curves__":
        data, labels = panels[0][1], panels[1][1]
        fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
        for row, label in zip(data[1:], labels):
            ax.plot(data[0].numpy(), row.numpy(), label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("dropout rate p")
        ax.legend(fontsize=8)
    else:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), dpi=100, squeeze=False)
        lo = min(float(t.min()) for _, t in panels)  # one colour scale for the panels of a figure
        hi = max(float(t.max()) for _, t in panels)
        for ax, (title, t) in zip(axes[0], panels):
            t = t.detach().float()
            im = ax.imshow(t.numpy(), cmap="viridis", interpolation="nearest", vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_all(out_dir: Path) -> list[Path]:
    """Render every figure into ``out_dir`` (atomically, one file each); return the paths."""
    torch.manual_seed(0)
    paths = []
    for name in FIGURES:
        path = Path(out_dir) / f"{name}.png"
        atomic_write_bytes(path, render(name))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "build/docs-figures")):
        print(p)

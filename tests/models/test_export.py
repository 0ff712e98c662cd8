"""Deployment: every preset's model, trained with dropkit's dropout, exports with ``torch.export`` in eval mode
(a batch size that varies) and the exported program reproduces the eager outputs exactly."""

from __future__ import annotations

import pytest
import torch

from dropkit.data.corpora import is_text_dataset
from dropkit.models.registry import build_model
from dropkit.train.config import Config
from dropkit.train.presets import preset_names, preset_values

_INPUT_SHAPES = {"fashion-mnist": (1, 28, 28), "mnist1d": (40,), "espeak-digits": (41, 40)}


# torch's own nn.GRU / nn.LSTM warn that their _flat_weights list is rebuilt while export traces.
@pytest.mark.filterwarnings("ignore:The tensor attributes .*_flat_weights.* were assigned during export")
@pytest.mark.parametrize("preset", preset_names())
def test_preset_model_exports_in_eval_mode_with_a_dynamic_batch(preset: str) -> None:
    cfg = Config(**preset_values(preset))
    if is_text_dataset(cfg.dataset):  # character language models: (batch, block_size) token ids, 65 characters
        shape, classes = (cfg.context_length,), 65

        def inputs(n: int) -> torch.Tensor:
            return torch.randint(0, classes, (n, *shape))
    else:
        shape, classes = _INPUT_SHAPES[cfg.dataset], 10

        def inputs(n: int) -> torch.Tensor:
            return torch.randn(n, *shape)
    model = build_model(cfg, shape, classes).eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    program = torch.export.export(model, (inputs(3),), dynamic_shapes=({0: batch},))
    exported = program.module()
    for n in (2, 7):
        x = inputs(n)
        with torch.no_grad():
            assert torch.equal(exported(x), model(x))
    # The exported graph holds no random op: evaluation is deterministic.
    random_ops = [node for node in program.graph.nodes
                  if node.op == "call_function" and any(k in str(node.target) for k in ("rand", "bernoulli", "dropout"))]
    assert random_ops == []

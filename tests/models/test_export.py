"""Deployment: every preset's model, trained with dropkit's dropout, exports with ``torch.export`` in eval mode
(a batch size that varies) and the exported program reproduces the eager outputs exactly."""

from __future__ import annotations

import pytest
import torch

from dropkit.models.registry import build_model
from dropkit.train.config import Config
from dropkit.train.presets import preset_names, preset_values

_INPUT_SHAPES = {"fashion-mnist": (1, 28, 28), "mnist1d": (40,)}


# torch's own nn.GRU / nn.LSTM warn that their _flat_weights list is rebuilt while export traces.
@pytest.mark.filterwarnings("ignore:The tensor attributes .*_flat_weights.* were assigned during export")
@pytest.mark.parametrize("preset", preset_names())
def test_preset_model_exports_in_eval_mode_with_a_dynamic_batch(preset: str) -> None:
    cfg = Config(**preset_values(preset))
    shape = _INPUT_SHAPES[cfg.dataset]
    model = build_model(cfg, shape, 10).eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    program = torch.export.export(model, (torch.randn(3, *shape),), dynamic_shapes=({0: batch},))
    exported = program.module()
    for n in (2, 7):
        x = torch.randn(n, *shape)
        with torch.no_grad():
            assert torch.equal(exported(x), model(x))
    # The exported graph holds no random op: evaluation is deterministic.
    random_ops = [node for node in program.graph.nodes
                  if node.op == "call_function" and any(k in str(node.target) for k in ("rand", "bernoulli", "dropout"))]
    assert random_ops == []

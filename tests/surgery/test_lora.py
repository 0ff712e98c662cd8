"""fuse_lora_dropout on real PEFT LoRA models: the same computation and gradients, the same adapter
checkpoint keys, an optimizer that keeps working, and one activation copy less kept for backward."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import dropkit.nn as dnn
from dropkit.memory import saved_tensor_bytes
from dropkit.rng import PhiloxState
from dropkit.surgery import fuse_lora_dropout, unfuse_lora_dropout

peft = pytest.importorskip("peft")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(32, 64)
        self.act = nn.GELU()
        self.down = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


def _lora_model(dropout: float = 0.2, dtype: torch.dtype = torch.float32, **config) -> nn.Module:
    torch.manual_seed(0)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["up", "down"], **config)
    model = peft.get_peft_model(Net().to(dtype), cfg)
    for name, param in model.named_parameters():  # PEFT starts lora_B at zero: make the update non-trivial
        if "lora_B" in name:
            nn.init.normal_(param)
    return model


def _lora_layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)}


def test_fuses_every_vanilla_adapter_and_keeps_the_checkpoint_keys() -> None:
    model = _lora_model()
    keys = list(peft.get_peft_model_state_dict(model))
    fused = fuse_lora_dropout(model)
    assert sorted(fused) == ["base_model.model.down.default", "base_model.model.up.default"]
    assert set(fused.values()) == {0.2}
    for layer in _lora_layers(model).values():
        assert isinstance(layer.lora_A["default"], dnn.DropoutLinear)
        assert isinstance(layer.lora_dropout["default"], nn.Identity)
    assert list(peft.get_peft_model_state_dict(model)) == keys
    assert fuse_lora_dropout(model) == {}  # fusing twice changes nothing


def test_same_outputs_and_gradients_as_the_unfused_model_with_the_same_masks() -> None:
    unfused = _lora_model(dtype=torch.float64)
    fused = copy.deepcopy(unfused)
    # The unfused reference draws its masks from the same counter-based streams as the fused layers.
    for i, layer in enumerate(_lora_layers(unfused).values()):
        layer.lora_dropout["default"] = dnn.Dropout(0.2, stream=PhiloxState(seed=100 + i))
    for i, layer in enumerate(_lora_layers(fused).values()):
        fuse_lora_dropout(layer, stream=PhiloxState(seed=100 + i))
    x = torch.randn(6, 32, dtype=torch.float64)
    for model in (unfused, fused):
        model.train()
    y_ref, y = unfused(x), fused(x)
    assert torch.equal(y, y_ref)
    y_ref.square().sum().backward()
    y.square().sum().backward()
    grads_ref = {n: p.grad for n, p in unfused.named_parameters() if p.requires_grad}
    grads = {n: p.grad for n, p in fused.named_parameters() if p.requires_grad}
    assert grads.keys() == grads_ref.keys() and len(grads) == 4
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_ref[name], rtol=1e-12, atol=1e-12, msg=name)
    with torch.no_grad():  # evaluation: dropout off in both
        assert torch.equal(unfused.eval()(x), fused.eval()(x))


def _extra_saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward beyond the parameters and the input itself."""
    return saved_tensor_bytes(lambda: model(x).sum().backward(), exclude=[x, *model.parameters()])


def test_backward_keeps_one_activation_copy_less() -> None:
    model = _lora_model(dropout=0.1).train()
    x = torch.randn(256, 32)
    before = _extra_saved_bytes(model, x)
    fuse_lora_dropout(model)
    after = _extra_saved_bytes(model, x)
    # The "up" layer's dropped input (256 x 32 float32) and the "down" layer's (256 x 64) are no longer kept;
    # on the CPU each fused layer keeps the generator state it replays in backward instead (5056 bytes).
    dropped_copies = (256 * 32 + 256 * 64) * 4
    states = 2 * torch.default_generator.get_state().numel()
    assert before - after >= dropped_copies - states, (before, after)


def test_an_optimizer_built_before_the_fuse_keeps_training_the_adapters() -> None:
    model = _lora_model().train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    fuse_lora_dropout(model)
    a = model.base_model.model.up.lora_A["default"].weight
    before = a.detach().clone()
    model(torch.randn(8, 32)).square().sum().backward()
    opt.step()
    assert not torch.equal(a, before)


def test_dora_and_zero_rate_adapters_are_left_alone() -> None:
    with pytest.warns(UserWarning, match="left unfused: .*up.default \\(a LoRA variant"):
        assert fuse_lora_dropout(_lora_model(use_dora=True)) == {}
    assert fuse_lora_dropout(_lora_model(dropout=0.0)) == {}


def test_unfuse_restores_plain_layers_sharing_the_parameters() -> None:
    model = _lora_model()
    weight = model.base_model.model.up.lora_A["default"].weight
    fuse_lora_dropout(model)
    assert sorted(unfuse_lora_dropout(model).values()) == [0.2, 0.2]
    layer = model.base_model.model.up
    assert type(layer.lora_A["default"]) is nn.Linear and layer.lora_A["default"].weight is weight
    assert type(layer.lora_dropout["default"]) is nn.Dropout and layer.lora_dropout["default"].p == 0.2


def test_peft_save_load_and_merge_work_on_a_fused_model(tmp_path) -> None:
    model = _lora_model()
    fuse_lora_dropout(model)
    x = torch.randn(5, 32)
    expected = model.eval()(x)
    model.save_pretrained(str(tmp_path))
    torch.manual_seed(0)  # the same base weights as _lora_model's
    loaded = peft.PeftModel.from_pretrained(Net(), str(tmp_path)).eval()
    torch.testing.assert_close(loaded(x), expected)
    merged = copy.deepcopy(model).merge_and_unload()
    assert type(merged.up) is nn.Linear
    torch.testing.assert_close(merged(x), expected, rtol=1e-5, atol=1e-5)

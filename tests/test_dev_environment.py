"""The environment ``make test`` builds: torchvision, timm, PEFT and Hugging Face models import and run as a
user's code would, with no shim (issue 20, item 2).

PyPI's torchvision is built for one torch release; beside another torch its C extension does not load and
``import torchvision`` stops with ``RuntimeError: operator torchvision::nms does not exist``, which breaks
timm, transformers and PEFT with it. The Makefile installs torch and torchvision as one matched pair and
``constraints.txt`` pins the same pair. The checks run in a fresh interpreter (no pytest, no conftest), and
a dev dependency that is missing is a failure here, not a skip: the other tests skip without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

# one worker runs the module, so the probe below starts once
pytestmark = pytest.mark.xdist_group("dev-environment")

ROOT = Path(__file__).resolve().parents[1]
USAGE = ROOT / "docs" / "guides" / "usage.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)  # as tests/test_readme_examples.py reads pages


def _makefile_pins() -> dict[str, str]:
    line = next(s for s in (ROOT / "Makefile").read_text().splitlines() if re.match(r"TORCH\s*:=", s))
    return dict(pin.split("==") for pin in line.split(":=", 1)[1].split())


def _constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _public(version: str) -> str:
    """``2.14.1+cu130`` -> ``2.14.1``: the CUDA and CPU builds of one release share the public version."""
    return Version(version).public


def test_makefile_installs_torch_and_torchvision_as_the_pair_constraints_pin() -> None:
    make, pins = _makefile_pins(), _constraint_pins()
    assert set(make) == {"torch", "torchvision"}, make
    assert {name: pins.get(name) for name in make} == make, "constraints.txt and the Makefile's TORCH differ"
    # torch's own requirement on triton (torch 2.14.1: triton~=3.8.0) must admit the pinned triton
    triton = [Requirement(r) for r in metadata.requires("torch") or [] if r.startswith("triton")]
    for req in triton:
        assert req.specifier.contains(pins["triton"]), f"constraints.txt pins triton {pins['triton']}, torch needs {req}"


def test_the_dev_extra_is_installed_at_the_versions_it_asks_for() -> None:
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    missing, wrong = [], []
    for req in map(Requirement, dev):
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(req.name)
            continue
        if not req.specifier.contains(_public(version), prereleases=True):
            wrong.append(f"{req.name} {version} (wants {req.specifier})")
    assert not missing and not wrong, f"not the venv make test builds (make .venv/.dev): missing {missing}, {wrong}"


def test_installed_torch_and_torchvision_are_the_pinned_pair() -> None:
    installed = {name: _public(metadata.version(name)) for name in ("torch", "torchvision")}
    assert installed == _makefile_pins()
    # the same build too: both CUDA 13.0 wheels from PyPI, or both +cpu wheels (make TORCH_INDEX=...)
    assert Version(metadata.version("torch")).local == Version(metadata.version("torchvision")).local


# One fresh interpreter for every check (importing torch, transformers and timm takes seconds): each prints
# one JSON line, which the tests below read. Nothing here catches an import error: it ends the script.
PROBE = r"""
import json, sys
import torch
torch.set_num_threads(1)
torch.manual_seed(0)

def emit(name, **values):
    print(json.dumps({"check": name, **values}), flush=True)

import torchvision
boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)  # IoU(0, 1) = 0.81
net = torchvision.models.resnet18(num_classes=4).eval()
emit("torchvision", keep=keep.tolist(), logits=list(net(torch.randn(1, 3, 32, 32)).shape))

import timm
from timm.layers import DropPath
vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, num_classes=5,
                        drop_path_rate=0.1).eval()
emit("timm", logits=list(vit(torch.randn(2, 3, 32, 32)).shape),
     drop_paths=sum(isinstance(m, DropPath) for m in vit.modules()))

import transformers
config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=32, num_labels=3)
bert = transformers.BertForSequenceClassification(config).eval()
ids = torch.randint(0, 100, (2, 16))
emit("transformers", logits=list(bert(ids).logits.shape))

import peft
from dropkit.surgery import fuse_lora_dropout
lora = peft.get_peft_model(transformers.BertForSequenceClassification(config),
                           peft.LoraConfig(r=4, lora_dropout=0.1, target_modules=["query", "value"]))
lora.train()
lora(ids).logits.sum().backward()
grads = sum(p.grad is not None for n, p in lora.named_parameters() if "lora_" in n)
emit("peft", adapters=len(fuse_lora_dropout(lora)), lora_grads=grads)

emit("ops", registered=sorted(op for op in ("nms", "roi_align", "deform_conv2d") if hasattr(torch.ops.torchvision, op)))

code = sys.stdin.read()
exec(compile(code, "docs/guides/usage.md (PEFT block)", "exec"), {"__name__": "__docs__"})
emit("usage_peft_example", ran=True)
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, dict]:
    block = next((code for code in _BLOCK.findall(USAGE.read_text()) if "from peft import" in code), None)
    assert block is not None, f"{USAGE.relative_to(ROOT)} has no PEFT example"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    out = subprocess.run([sys.executable, "-c", PROBE], input=block, env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    results = {}
    for line in out.stdout.splitlines():
        if line.startswith('{"check"'):
            row = json.loads(line)
            results[row.pop("check")] = row
    if out.returncode != 0:
        pytest.fail(f"the checks {list(results)} passed, then the probe stopped:\n{out.stderr[-4000:]}", pytrace=False)
    return results


def test_torchvision_loads_its_c_extension_and_builds_a_model(probe: dict[str, dict]) -> None:
    # nms is a C++ kernel: boxes 0 and 1 overlap with IoU 0.81 > 0.5, so the lower-scored box 1 is suppressed
    assert probe["torchvision"] == {"keep": [0, 2], "logits": [1, 4]}
    # registered by the extension (the mismatched wheel registered none of them: roi_align is defined only then)
    assert probe["ops"] == {"registered": ["deform_conv2d", "nms", "roi_align"]}


def test_timm_creates_a_vit_with_stochastic_depth(probe: dict[str, dict]) -> None:
    # vit_tiny has 12 blocks with drop-path rates linspace(0, 0.1, 12): the first (rate 0) has Identity in their
    # place, the other 11 a DropPath after attention and one after the MLP
    assert probe["timm"] == {"logits": [2, 5], "drop_paths": 22}


def test_a_hugging_face_model_builds_from_a_config(probe: dict[str, dict]) -> None:
    assert probe["transformers"] == {"logits": [2, 3]}


def test_peft_lora_trains_and_its_dropout_fuses(probe: dict[str, dict]) -> None:
    # query and value in each of 2 layers: 4 adapters, each with lora_A and lora_B weights
    assert probe["peft"] == {"adapters": 4, "lora_grads": 8}


def test_the_usage_guides_peft_example_runs_in_a_fresh_interpreter(probe: dict[str, dict]) -> None:
    assert probe["usage_peft_example"] == {"ran": True}


"""The integrations in the environments users have: torchvision absent (both work) and a torchvision build that
does not load beside torch (a clear ImportError). Run in subprocesses, each with its own site-packages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[2]
SITE = Path(torch.__file__).resolve().parents[1]


def run(code: str, *, pythonpath: list[Path], isolated_site: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["TOKENIZERS_PARALLELISM"] = "false"
    cmd = [sys.executable, *(["-S"] if isolated_site else []), "-c", textwrap.dedent(code)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)


BROKEN_PROBE = """
    try:
        import torchvision
    except RuntimeError as exc:
        print("BROKEN", exc)
    else:
        print("LOADS")
    for name in ("lightning", "transformers"):
        try:
            __import__(f"dropkit.integrations.{name}")
        except ImportError as exc:
            print(f"{name}: ImportError name={exc.name}: {exc}")
        else:
            print(f"{name}: imported")
"""


def _site_farm(root: Path, *, torchvision: bool, torchvision_extension: bool = True) -> Path:
    """site-packages as links to the real one's entries, without torchvision or without its C extension."""
    farm = root / "site-packages"
    farm.mkdir()
    for entry in SITE.iterdir():
        if not entry.name.startswith("torchvision"):
            (farm / entry.name).symlink_to(entry)
        elif torchvision and entry.name != "torchvision":
            (farm / entry.name).symlink_to(entry)  # torchvision.libs, its dist-info
    if torchvision:
        (farm / "torchvision").mkdir()
        for entry in (SITE / "torchvision").iterdir():
            if torchvision_extension or not entry.name.startswith("_C"):
                (farm / "torchvision" / entry.name).symlink_to(entry)
    return farm


def test_a_torchvision_that_does_not_load_gives_a_clear_error(tmp_path: Path) -> None:
    # make installs a matched torch / torchvision pair, so the mismatch is rebuilt here: the real torchvision
    # without its C extension (torchvision/_C*.so) fails exactly as a build for another torch does
    if not (SITE / "torchvision").is_dir():
        pytest.skip("torchvision is not installed")
    farm = _site_farm(tmp_path, torchvision=True, torchvision_extension=False)
    out = run(BROKEN_PROBE, pythonpath=[farm, REPO], isolated_site=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("BROKEN"), out.stdout
    assert "operator torchvision::" in out.stdout
    for name in ("lightning", "transformers"):
        line = next(s for s in out.stdout.splitlines() if s.startswith(f"{name}:"))
        assert f"{name}: ImportError name=torchvision: dropkit.integrations.{name}:" in line, line
        assert "does not match torch" in line and "uninstall torchvision" in line, line

WITHOUT_TORCHVISION = """
    import importlib.util, tempfile
    assert importlib.util.find_spec("torchvision") is None
    import torch
    torch.set_num_threads(1)
    from torch import nn

    import lightning as L
    from dropkit.integrations.lightning import DropoutSchedule, MCDropout

    class Net(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
        def forward(self, x):
            return self.net(x)
        def training_step(self, batch, batch_idx):
            return nn.functional.cross_entropy(self(batch[0]), batch[1])
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    kw = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
              default_root_dir=tempfile.mkdtemp())
    sched = DropoutSchedule("late", p=0.2, cutoff=1)
    model = Net()
    L.Trainer(max_steps=2, callbacks=[sched], **kw).fit(model, torch.utils.data.DataLoader(data, batch_size=8))
    assert sched.history == [(0, 0.0), (1, 0.2)], sched.history
    preds = L.Trainer(callbacks=[MCDropout(samples=4)], **kw).predict(model, torch.utils.data.DataLoader(torch.randn(8, 4), batch_size=8))
    assert preds[0].samples_used == 4

    import transformers
    from dropkit.integrations.transformers import DropoutSchedule as HFSchedule, mc_evaluate
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=8)
    bert = transformers.BertForSequenceClassification(config)
    rows = [{"input_ids": torch.randint(0, 30, (8,)), "labels": torch.tensor(i % 2)} for i in range(8)]
    args = transformers.TrainingArguments(tempfile.mkdtemp(), max_steps=2, per_device_train_batch_size=4, report_to=[],
                                          use_cpu=True, disable_tqdm=True, save_strategy="no")
    hf = HFSchedule("late", p=0.2, cutoff=1)
    trainer = transformers.Trainer(model=bert, args=args, train_dataset=rows, eval_dataset=rows, callbacks=[hf])
    trainer.train()
    assert hf.history == [(0, 0.0), (1, 0.2)], hf.history
    assert mc_evaluate(trainer, samples=4, log=False)["mc_samples"] == 4
    import sys
    assert "torchvision" not in sys.modules
    print("OK")
"""


def test_both_integrations_work_without_torchvision(tmp_path) -> None:
    # site-packages without torchvision: a folder of links to everything else, used instead of the real one
    farm = _site_farm(tmp_path, torchvision=False)
    out = run(WITHOUT_TORCHVISION, pythonpath=[farm, REPO], isolated_site=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), (out.stdout[-2000:], out.stderr[-4000:])

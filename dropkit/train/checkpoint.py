"""Checkpoints in safetensors: model, optimizer and RNG state in one file, written atomically.

Layout of the tensors: ``model.<name>`` (the state_dict), ``optim.<param index>.<key>`` (optimizer
state tensors) and ``rng.torch`` / ``rng.cuda`` (generator states). Everything that is not a tensor
(step, wall time, optimizer hyper-parameters) lives in the safetensors header as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dropkit._io import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "list_checkpoints", "checkpoint_name"]


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint of ``step`` (``step_00000100.safetensors``), sortable by step."""
    return f"step_{step:08d}.safetensors"


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first (temporary files are never listed)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step_*.safetensors") if not p.name.startswith("."))


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    meta: dict[str, Any],
) -> None:
    """Save model + optimizer + RNG state and ``meta`` (JSON-serialisable) to ``path`` atomically."""
    tensors: dict[str, torch.Tensor] = {
        f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()
    }
    optim_meta: dict[str, Any] = {}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, state in sd["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{idx}.{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        optim_meta = {"param_groups": sd["param_groups"], "scalars": scalars}
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    header = {"meta": json.dumps(meta), "optim": json.dumps(optim_meta)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load what :func:`save_checkpoint` wrote into ``model`` (and ``optimizer``); return ``meta``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    tensors = load_file(str(path))
    model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_sd)
    if optimizer is not None:
        optim_meta = json.loads(header.get("optim", "{}"))
        if not optim_meta:
            raise ValueError(f"load_checkpoint: {str(path)!r} holds no optimizer state")
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        for idx, scalars in optim_meta["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": optim_meta["param_groups"]})
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
    return json.loads(header.get("meta", "{}"))

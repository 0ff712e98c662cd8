"""``dropkit audit``: which dropout in a model really fires; exits 1 on a disagreement, for a user's CI.

The model comes from an import path (``--model package.module:callable`` with ``--model-args JSON``,
resolved by :func:`dropkit.models.imported.build_imported_model`) or a dropkit preset (``--preset NAME``).
Example inputs are random tensors of ``--input-shape`` (batch dim included; repeat the flag for several
positional inputs, name them with ``--input-name`` to pass them as keywords, e.g. ``input_ids``) of
``--input-dtype``, integers in ``[0, --input-high)``; or whatever a ``--inputs module:callable`` returns (a
tensor, a tuple of positional arguments or a dict of keyword arguments). The audit runs in training mode
and in eval mode (``--mode``), prints a table per pass and, with ``--json PATH``, writes them as JSON.
``--check-disable`` adds a training-mode pass after :func:`dropkit.surgery.disable_dropout`: any random op
left is a disagreement, and the model's outputs, rates and ``state_dict`` must come back exactly after
:func:`dropkit.surgery.enable_dropout`.

Exit status: 0 when every pass agrees, 1 on a disagreement (also on a warning with ``--strict``), 2 on bad
input.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import torch
from torch import nn

from dropkit.cli.errors import CLIError

__all__ = ["add_parser", "run", "parse_shape", "make_inputs"]

log = logging.getLogger("dropkit")

_DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "long": torch.long, "int64": torch.long, "int32": torch.int32, "bool": torch.bool,
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "audit",
        help="which dropout really fires: declared vs measured rates per module; exit 1 on a disagreement",
        description="Run a model once in training mode and once in eval mode under a dispatch-level recorder "
        "and report, per module, the declared dropout rate, whether it fired and the fraction dropped; flags "
        "'configured 0.1, never fired', 'fires in eval' and 'functional dropout with a hard-coded "
        "training=True'. Exit status 1 on a disagreement, 2 on bad input.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="MODULE:CALLABLE",
                        help="import path of a class or factory returning an nn.Module, e.g. torchvision.models:resnet18")
    source.add_argument("--preset", metavar="NAME", help="a dropkit preset's model (see dropkit train --help)")
    parser.add_argument("--model-args", metavar="JSON", default=None,
                        help="keyword arguments for --model as a JSON object (default: none)")
    parser.add_argument("--num-classes", type=int, default=10, help="classes of a --preset model (default: 10)")
    parser.add_argument("--input-shape", action="append", metavar="N,D,...", default=None,
                        help="shape of a random example input, batch dim included; repeat for several inputs")
    parser.add_argument("--input-dtype", default="float32", choices=sorted(_DTYPES),
                        help="dtype of the --input-shape tensors (default: float32)")
    parser.add_argument("--input-high", type=int, default=2,
                        help="integer inputs are drawn from [0, HIGH), e.g. the vocabulary size (default: 2)")
    parser.add_argument("--input-name", action="append", metavar="NAME", default=None,
                        help="pass the inputs as keywords, one name per --input-shape (e.g. input_ids) (default: positional)")
    parser.add_argument("--inputs", metavar="MODULE:CALLABLE", default=None,
                        help="a function returning the example inputs (tensor, tuple or dict) instead of --input-shape")
    parser.add_argument("--mode", choices=("both", "train", "eval"), default="both",
                        help="which passes to run (default: both)")
    parser.add_argument("--check-disable", action="store_true",
                        help="also check that dropkit.surgery.disable_dropout leaves no random op and that "
                        "enable_dropout restores the model exactly (default: off)")
    parser.add_argument("--device", default="cpu", help="device for the model and inputs (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the model's initialisation and inputs (default: 0)")
    parser.add_argument("--json", metavar="PATH", default=None, help="write the reports as JSON here (default: none)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too (unused config rates)")
    parser.set_defaults(func=run)


def parse_shape(text: str, *, where: str = "audit: --input-shape") -> tuple[int, ...]:
    """``"2,3,32,32"`` -> ``(2, 3, 32, 32)``; each size a positive integer.

    Example:
        >>> parse_shape("2,3,32,32")
        (2, 3, 32, 32)
    """
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise CLIError(f"{where}: must be positive integers separated by commas such as 2,3,32,32, got {text!r}")
    return shape


def make_inputs(args: argparse.Namespace, device: torch.device) -> object:
    """The example inputs the flags describe (see the module docstring)."""
    from dropkit.models.imported import load_callable

    if args.inputs is not None:
        if args.input_shape:
            raise CLIError("audit: give --inputs or --input-shape, not both")
        inputs = load_callable(args.inputs, where="audit: --inputs")()
        return _to_device(inputs, device)
    if not args.input_shape:
        raise CLIError("audit: example inputs are needed: --input-shape N,D,... (or --inputs module:callable)")
    if args.input_high < 1:
        raise CLIError(f"audit: --input-high must be >= 1, got {args.input_high}")
    dtype = _DTYPES[args.input_dtype]
    tensors = []
    for text in args.input_shape:
        shape = parse_shape(text)
        if dtype.is_floating_point:
            tensors.append(torch.randn(shape, device=device).to(dtype))
        else:
            tensors.append(torch.randint(0, args.input_high, shape, device=device).to(dtype))
    if args.input_name:
        if len(args.input_name) != len(tensors):
            raise CLIError(f"audit: --input-name needs one name per --input-shape ({len(tensors)}), "
                           f"got {len(args.input_name)}: {args.input_name}")
        return dict(zip(args.input_name, tensors))
    return tuple(tensors)


def _to_device(inputs: Any, device: torch.device) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(_to_device(x, device) for x in inputs)
    if isinstance(inputs, dict):
        return {k: _to_device(v, device) for k, v in inputs.items()}
    return inputs


def _build_model(args: argparse.Namespace) -> tuple[str, nn.Module]:
    if args.model is not None:
        from dropkit.models.imported import build_imported_model

        try:
            return args.model, build_imported_model(args.model, args.model_args, where="audit: --model")
        except (ValueError, TypeError, ImportError):
            raise
        except Exception as exc:  # the user's factory failed: say so, without our traceback
            raise CLIError(f"audit: --model {args.model!r} raised {type(exc).__name__}: {exc}") from exc
    from dropkit.models.registry import build_model
    from dropkit.train.config import from_dict
    from dropkit.train.presets import preset_values

    if args.model_args is not None:
        raise CLIError("audit: --model-args goes with --model, not --preset")
    if not args.input_shape or args.inputs is not None:
        raise CLIError("audit: --preset needs --input-shape (batch dim first), e.g. --input-shape 8,40 for mnist1d")
    cfg = from_dict(preset_values(args.preset))
    return f"preset:{args.preset}", build_model(cfg, parse_shape(args.input_shape[0])[1:], args.num_classes)


def _outputs(model: nn.Module, inputs: object) -> list[torch.Tensor]:
    from torch.utils._pytree import tree_leaves

    from dropkit.audit.audit import split_inputs

    pos, kw = split_inputs(inputs)
    with torch.no_grad():
        out = model(*pos, **kw)
    if hasattr(out, "to_tuple"):  # Hugging Face ModelOutput
        out = out.to_tuple()
    return [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]


def _check_disable(model: nn.Module, inputs: object) -> dict[str, Any]:
    """Train-mode audit after disable_dropout; then enable_dropout must restore outputs, rates, state."""
    from dropkit.audit import audit_dropout, disable_dropout, enable_dropout

    was_training = model.training
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    switched = disable_dropout(model)
    try:
        report = audit_dropout(model, inputs, training=True)
        model.train()
        first, second = _outputs(model, inputs), _outputs(model, inputs)
        deterministic = len(first) == len(second) and all(torch.equal(a, b) for a, b in zip(first, second))
    finally:
        restored = enable_dropout(model)
        model.train(was_training)
    state = model.state_dict()
    same_state = state.keys() == before_state.keys() and all(torch.equal(state[k], before_state[k]) for k in state)
    return {
        "switched": {k: float(v) for k, v in switched.items()},
        "random_ops_left": report.random_ops,
        "left": [e.to_dict() for e in report.events],
        "deterministic": deterministic,
        "restored": restored == switched,
        "state_dict_unchanged": same_state,
    }


def run(args: argparse.Namespace) -> int:
    from dropkit.audit import audit_dropout

    torch.manual_seed(args.seed)
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        raise CLIError(f"audit: --device must be a torch device such as cpu or cuda:0, got {args.device!r}") from exc
    name, model = _build_model(args)
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as exc:  # "Torch not compiled with CUDA enabled", no such device
        raise CLIError(f"audit: cannot move the model to --device {args.device!r}: {exc}") from exc
    inputs = make_inputs(args, device)
    modes = {"both": (True, False), "train": (True,), "eval": (False,)}[args.mode]
    passes = []
    failed = False
    for training in modes:
        try:
            report = audit_dropout(model, inputs, training=training)
        except RuntimeError as exc:
            raise CLIError(str(exc)) from exc
        print(report)
        print()
        passes.append(report.to_dict())
        failed = failed or not report.ok or (args.strict and bool(report.findings))
    result: dict[str, Any] = {"model": name, "ok": not failed, "passes": passes}
    if args.check_disable:
        check = _check_disable(model, inputs)
        result["disable_dropout"] = check
        good = check["random_ops_left"] == 0 and check["deterministic"] and check["restored"] and check["state_dict_unchanged"]
        print(f"disable_dropout: switched {len(check['switched'])} rates/layers off; {check['random_ops_left']} random ops "
              f"left in a train-mode pass; deterministic: {check['deterministic']}; enable_dropout restored rates: "
              f"{check['restored']}, state_dict unchanged: {check['state_dict_unchanged']}")
        for event in check["left"]:
            print(f"  still fires: {event['module'] or '(root)'}: {event['op']}"
                  + (f" in {event['call']}" if event["call"] else ""))
        failed = failed or not good
        result["ok"] = not failed
    if args.json:
        from dropkit._io import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        log.info("wrote %s", args.json)
    print("audit: " + ("disagreements found" if failed else "every dropout agrees with its declaration"))
    return 1 if failed else 0

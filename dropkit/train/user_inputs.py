"""Canonical, checked values for the config keys that name the user's own files and model.

Called by :class:`~dropkit.train.config.Config` on construction, so that every path into a run (flags,
config files, sweeps, ``--resume``) records the same spellings in ``config.yaml``: a file dataset as
``kind:/absolute/path``, ``model_args`` as a mapping, and the placement keys checked for syntax
(their classes are resolved when the model is built).
"""

from __future__ import annotations

from typing import Any

from dropkit.data.files import canonical_dataset, is_file_spec
from dropkit.models.imported import is_import_path, parse_model_args
from dropkit.models.placement import parse_insert_dropout, parse_swap_rnn

__all__ = ["normalise_user_inputs"]


def normalise_user_inputs(cfg: Any) -> None:
    """Rewrite ``cfg.dataset`` and ``cfg.model_args`` to their canonical forms; check the related keys.

    Raises:
        ValueError: naming the key, what was given and what is allowed.

    Example:
        >>> from types import SimpleNamespace
        >>> cfg = SimpleNamespace(dataset="digits", model="torch.nn:Flatten", model_args='{"start_dim": 1}',
        ...                       test_split=0.2, insert_dropout=None, swap_rnn=None, set_rate=None, image_size=None)
        >>> normalise_user_inputs(cfg)
        >>> cfg.model_args
        {'start_dim': 1}
    """
    where = "config"
    from dropkit.data.corpora import is_text_dataset

    if isinstance(cfg.dataset, str) and is_file_spec(cfg.dataset) and not is_text_dataset(cfg.dataset):
        cfg.dataset = canonical_dataset(cfg.dataset)
    if cfg.model_args is not None:
        cfg.model_args = parse_model_args(cfg.model_args, where=f"{where}: model_args")
        if not is_import_path(cfg.model):
            raise ValueError(f"{where}: model_args is for a model given as module:callable, got model {cfg.model!r}")
    if isinstance(cfg.test_split, bool) or not isinstance(cfg.test_split, (int, float)) or not 0 < cfg.test_split < 1:
        raise ValueError(f"{where}: test_split must be in (0, 1), got {cfg.test_split!r}")
    if cfg.image_size is not None and (len(cfg.image_size) not in (1, 2) or min(cfg.image_size) < 1):
        raise ValueError(f"{where}: image_size must be S or H,W with positive integers, got {cfg.image_size!r}")
    if cfg.set_rate is not None and not 0 <= cfg.set_rate <= 1:
        raise ValueError(f"{where}: set_rate must be None or in [0, 1], got {cfg.set_rate!r}")
    parse_insert_dropout(cfg.insert_dropout, where=f"{where}: insert_dropout")
    parse_swap_rnn(cfg.swap_rnn, where=f"{where}: swap_rnn")
    placed = [k for k in ("insert_dropout", "swap_rnn") if getattr(cfg, k)] + (["set_rate"] if cfg.set_rate is not None else [])
    if placed and not is_import_path(cfg.model):
        raise ValueError(
            f"{where}: {', '.join(placed)} place dropout on a model given as module:callable, got model "
            f"{cfg.model!r} (the built-in models take their rates from p, conv_p, attn_p, ...)"
        )

"""The no-dropout baseline of ``dropkit compare`` for any model, built-in or imported."""

from __future__ import annotations

from typing import Any

from dropkit.models.imported import is_import_path
from dropkit.models.placement import parse_swap_rnn

__all__ = ["baseline_config"]


def baseline_config(cfg: Any) -> Any:
    """``cfg`` with every dropout rate 0: :meth:`Config.without_dropout`, and for an imported model also
    ``set_rate: 0`` (its own dropout modules and the inserted ones) and zero ``swap_rnn`` rates.

    Example:
        >>> from dropkit.train.config import Config
        >>> b = baseline_config(Config(model="torch.nn:Identity", insert_dropout="after=Linear", p=0.3))
        >>> b.p, b.set_rate, b.insert_dropout
        (0.0, 0.0, 'after=Linear')
    """
    base = cfg.without_dropout()
    if not is_import_path(cfg.model):
        return base
    changes: dict[str, Any] = {"set_rate": 0.0}
    rnn = parse_swap_rnn(cfg.swap_rnn)
    if rnn is not None:
        changes["swap_rnn"] = ",".join(f"{k}=0" for k in rnn)
    return base.replace(**changes)

"""torch's dropout modules and functions paired with their dropkit drop-in twins: the one table the
drop-in tests share (``tests/functional/test_torch_ranks.py``, ``tests/nn/test_torch_compat.py``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

import dropkit.functional as DF
import dropkit.nn as dnn

__all__ = ["MODULE_TWINS", "FUNCTION_TWINS"]

#: ``(torch module class, dropkit module class)``
MODULE_TWINS = [
    (nn.Dropout, dnn.Dropout),
    (nn.Dropout1d, dnn.Dropout1d),
    (nn.Dropout2d, dnn.Dropout2d),
    (nn.Dropout3d, dnn.Dropout3d),
    (nn.AlphaDropout, dnn.AlphaDropout),
    (nn.FeatureAlphaDropout, dnn.FeatureAlphaDropout),
]
#: ``(torch function, dropkit function)``, of the same name
FUNCTION_TWINS = [
    (F.dropout, DF.dropout),
    (F.dropout1d, DF.dropout1d),
    (F.dropout2d, DF.dropout2d),
    (F.dropout3d, DF.dropout3d),
    (F.alpha_dropout, DF.alpha_dropout),
    (F.feature_alpha_dropout, DF.feature_alpha_dropout),
]

"""Regularisers that go with dropout: the L2 penalty, decoupled weight decay and the max-norm constraint."""

from dropkit.regularizers.l2 import l2_penalty
from dropkit.regularizers.max_norm import apply_max_norm
from dropkit.regularizers.weight_decay import decay_param_groups
from dropkit.regularizers.weights import iter_weights, split_decay_params

__all__ = ["l2_penalty", "apply_max_norm", "decay_param_groups", "iter_weights", "split_decay_params"]

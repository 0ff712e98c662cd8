"""Pure dropout functions, one file per method. ``p`` is always the probability of **dropping**."""

from dropkit.functional.dropout import dropout
from dropkit.kernels.native import native_keep_mask

__all__ = ["dropout", "native_keep_mask"]

# Each section below belongs to one body of work; add imports and names in your own section only.
# --- element-wise and structured (CNN) ---
from dropkit.functional.alpha_dropout import alpha_dropout, feature_alpha_dropout
from dropkit.functional.channel_dropout import channel_dropout, dropout1d, dropout2d, dropout3d
from dropkit.functional.drop_block import drop_block1d, drop_block2d, drop_block3d, drop_block_gamma, drop_block_schedule
from dropkit.functional.drop_connect import (
    drop_connect_conv1d,
    drop_connect_conv2d,
    drop_connect_conv3d,
    drop_connect_linear,
    drop_connect_weight,
)
from dropkit.functional.drop_path import drop_path, drop_path_residual
from dropkit.functional.gaussian_dropout import gaussian_dropout
from dropkit.functional.gaussian_noise import gaussian_noise

__all__ += ["gaussian_dropout", "gaussian_noise", "alpha_dropout", "feature_alpha_dropout"]
__all__ += ["channel_dropout", "dropout1d", "dropout2d", "dropout3d"]
__all__ += ["drop_block1d", "drop_block2d", "drop_block3d", "drop_block_gamma", "drop_block_schedule"]
__all__ += ["drop_path", "drop_path_residual"]
__all__ += ["drop_connect_weight", "drop_connect_linear", "drop_connect_conv1d", "drop_connect_conv2d", "drop_connect_conv3d"]
# --- recurrent ---
from dropkit.functional.embedding_dropout import embedding_dropout
from dropkit.functional.locked_dropout import locked_dropout
from dropkit.functional.weight_drop import weight_drop
from dropkit.functional.zoneout import zoneout

__all__ += ["locked_dropout", "embedding_dropout", "weight_drop", "zoneout"]
# --- transformer, learned and scheduled ---
from dropkit.functional.attention import attention
from dropkit.functional.concrete_dropout import concrete_dropout, concrete_dropout_regularizer
from dropkit.functional.r_drop import r_drop_forward, r_drop_loss, symmetric_kl
from dropkit.functional.residual_dropout import residual_dropout
from dropkit.functional.token_dropout import num_kept_tokens, token_dropout

__all__ += ["attention", "residual_dropout", "token_dropout", "num_kept_tokens"]
__all__ += ["concrete_dropout", "concrete_dropout_regularizer", "r_drop_loss", "r_drop_forward", "symmetric_kl"]
# --- speech ---
from dropkit.functional.spec_augment import spec_augment, spec_augment_mask

__all__ += ["spec_augment", "spec_augment_mask"]
# --- fused kernels ---
from dropkit.kernels.fused import (
    bias_act_dropout,
    bias_dropout_add,
    dropout_add_layer_norm,
    dropout_add_rms_norm,
    dropout_linear,
)

__all__ += ["bias_act_dropout", "bias_dropout_add", "dropout_add_layer_norm", "dropout_add_rms_norm", "dropout_linear"]

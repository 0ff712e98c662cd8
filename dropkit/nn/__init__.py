"""``nn.Module`` twins of :mod:`dropkit.functional`; they validate hyper-parameters at construction."""

from dropkit.nn._base import DropoutModule
from dropkit.nn.dropout import Dropout

__all__ = ["DropoutModule", "Dropout"]

# Each section below belongs to one body of work; add imports and names in your own section only.
# --- element-wise and structured (CNN) ---
from dropkit.nn.alpha_dropout import AlphaDropout, FeatureAlphaDropout
from dropkit.nn.channel_dropout import ChannelDropout, Dropout1d, Dropout2d, Dropout3d
from dropkit.nn.drop_block import DropBlock1d, DropBlock2d, DropBlock3d
from dropkit.nn.drop_connect import DropConnectConv1d, DropConnectConv2d, DropConnectConv3d, DropConnectLinear
from dropkit.nn.drop_path import DropPath, DropPathResidual
from dropkit.nn.gaussian_dropout import GaussianDropout
from dropkit.nn.gaussian_noise import GaussianNoise

__all__ += ["GaussianDropout", "GaussianNoise", "AlphaDropout", "FeatureAlphaDropout"]
__all__ += ["ChannelDropout", "Dropout1d", "Dropout2d", "Dropout3d", "DropBlock1d", "DropBlock2d", "DropBlock3d"]
__all__ += ["DropPath", "DropPathResidual"]
__all__ += ["DropConnectLinear", "DropConnectConv1d", "DropConnectConv2d", "DropConnectConv3d"]
# --- recurrent ---
from dropkit.nn.embedding_dropout import EmbeddingDropout
from dropkit.nn.locked_dropout import LockedDropout
from dropkit.nn.variational_rnn import VariationalGRU, VariationalLSTM
from dropkit.nn.weight_drop import WeightDrop, WeightDropGRU, WeightDropLSTM, apply_weight_drop, remove_weight_drop
from dropkit.nn.zoneout import ZoneoutGRU, ZoneoutGRUCell, ZoneoutLSTM, ZoneoutLSTMCell

__all__ += ["LockedDropout", "EmbeddingDropout", "VariationalLSTM", "VariationalGRU"]
__all__ += ["WeightDrop", "WeightDropLSTM", "WeightDropGRU", "apply_weight_drop", "remove_weight_drop"]
__all__ += ["ZoneoutLSTMCell", "ZoneoutGRUCell", "ZoneoutLSTM", "ZoneoutGRU"]
# --- transformer, learned and scheduled ---
from dropkit.nn.attention import MultiHeadSelfAttention
from dropkit.nn.concrete_dropout import ConcreteDropout, concrete_dropout_regularization
from dropkit.nn.dropout_add_norm import DropoutAddLayerNorm, DropoutAddRMSNorm
from dropkit.nn.dropout_linear import DropoutLinear
from dropkit.nn.r_drop import RDropLoss
from dropkit.nn.residual_dropout import ResidualDropout
from dropkit.nn.token_dropout import PatchDropout, TokenDropout

__all__ += ["MultiHeadSelfAttention", "ResidualDropout", "TokenDropout", "PatchDropout", "DropoutLinear"]
__all__ += ["DropoutAddLayerNorm", "DropoutAddRMSNorm"]
__all__ += ["ConcreteDropout", "concrete_dropout_regularization", "RDropLoss"]
# --- speech ---
from dropkit.nn.spec_augment import SpecAugment

__all__ += ["SpecAugment"]

"""Model builders selected by ``--model``; each registers itself in :mod:`dropkit.models.registry`."""

from dropkit.models.mlp import MLP, build_mlp
from dropkit.models.registry import build_model, model_names, register_model

__all__ = ["MLP", "build_mlp", "build_model", "model_names", "register_model"]

# --- cnn ---
from dropkit.models.cnn import CNN, build_cnn

__all__ += ["CNN", "build_cnn"]
# --- rnn ---
from dropkit.models.rnn import RNNClassifier, build_rnn

__all__ += ["RNNClassifier", "build_rnn"]
# --- transformer ---
from dropkit.models.transformer import Transformer, TransformerBlock, build_transformer

__all__ += ["Transformer", "TransformerBlock", "build_transformer"]
# --- text ---
from dropkit.models.gpt import GPT, GPTBlock, build_gpt
from dropkit.models.lstm_lm import LSTMLM, ActivationRegularizer, build_lstm_lm

__all__ += ["GPT", "GPTBlock", "build_gpt", "LSTMLM", "ActivationRegularizer", "build_lstm_lm"]
# --- speech ---
from dropkit.models.speech_rnn import SpeechRNN, build_speech_rnn

__all__ += ["SpeechRNN", "build_speech_rnn"]

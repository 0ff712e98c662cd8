"""Training: configuration, the trainer loop, run folders and checkpoints."""

from dropkit.train.config import Config, config_keys, load_config_file

__all__ = ["Config", "config_keys", "load_config_file"]

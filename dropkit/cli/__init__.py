"""Command-line interface: ``dropkit train|compare|datasets|...``."""

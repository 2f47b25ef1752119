"""Hearth: run large language models privately on your workstation."""

__version__ = "0.1.0"

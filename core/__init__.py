"""RLHF Studio's headless engine. Never imports Qt: the GUI in `app/` is a view over it."""

__version__ = "0.1.0"

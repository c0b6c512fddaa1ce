"""Benchmarks of RLHF Studio's engine (not shipped with the app; `pip install .[bench]`)."""

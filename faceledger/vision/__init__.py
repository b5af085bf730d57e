"""Models and per-face computation: pure functions of pixels."""

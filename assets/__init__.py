"""Data that ships with FlowDrafter: the example projects under `examples/` (read with importlib.resources)."""

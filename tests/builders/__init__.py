"""Test-only model builders (need the dev extra, e.g. `gguf`); importable in tests and benchmarks as `builders`."""

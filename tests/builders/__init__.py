"""Test-only model builders (need the dev extra, e.g. `gguf`) and helpers; importable in tests and benchmarks as `builders`."""

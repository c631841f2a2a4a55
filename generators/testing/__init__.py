"""Random-weight models built locally, for tests, benchmarks and `flowdrafter selftest`.

Nothing here is imported by rendering; a person only reaches it through `selftest`. The models go through
the same `from_pretrained` code as real ones, which is the point: they prove the code paths offline.
"""

"""Diffusion backbone: model roles and loading (`models`), box-bound attention (`attention`), entity
references (`references`, `cutout`), the scene reference image (`scene_image`), camera warping
(`camera_warp`), the `drafter` generator (`drafter`) and `selftest` (its tiny models are in `generators.testing`).
"""

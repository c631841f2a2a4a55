"""Diffusion backbone: model roles and loading (`models`), box-bound attention (`attention`), IP-Adapter
weights (`ip_adapter`), entity references (`references`, `cutout`, and `auto_refs` for the ones a render
makes), the scene reference image (`scene_image`), camera warping (`camera_warp`), the `drafter` generator
(`drafter`) and `selftest` (its tiny models are in `generators.testing`).
"""

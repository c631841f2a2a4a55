"""Diffusion backbone: model roles and loading (`models`), box-bound attention (`attention`), IP-Adapter
weights (`ip_adapter`), entity references (`references`, `cutout`, and `auto_refs` for the ones a render
makes), the scene reference image (`scene_image`), camera warping (`camera_warp`), the `drafter` generator
(`drafter`) and `selftest` (its tiny models are in `generators.testing`).
"""

import os as _os

# Library notices (a missing optional backend, dtype advice) are not news to a person running FlowDrafter:
# set before diffusers or transformers is first imported; `setdefault` lets a developer turn them back on.
for _lib in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
    _os.environ.setdefault(_lib, "error")

"""Long scenes in bounded memory: the whole UNet runs on overlapping windows of frames, blended per frame.

AnimateDiff's motion module sees `motion_context_frames` (16) frames at once. A longer scene is denoised
window by window, each window a full UNet call over its frames, and every frame's noise prediction is the
weighted mean of the windows that hold it (pyramid weights: a frame counts most in the window where it sits
in the middle). The windows overlap by a quarter of their length (4 of 16 frames, AnimateDiff-Evolved's
default), so the motion carries over from one window to the next, and cross-frame attention to frame 0
(`video_attention`) ties every window's look to the first frame.

Peak memory is one window's, whatever the scene's length: the hidden states and skip connections of a UNet
call grow with the rows it holds, and a call never holds more than one window. FreeNoise (diffusers'
`enable_free_noise`) windows only the motion modules and keeps every frame in the spatial layers, so its
memory grows with the frame count. The price is compute: a 120-frame scene runs 10 windows of 16 frames,
1.33x the frames of one pass.
"""

from __future__ import annotations

import torch


def windows(num_frames: int, length: int) -> list[tuple[int, int]]:
    """[start, stop) of each window, in frame order, the last one ending at the last frame."""
    if num_frames <= length:
        return [(0, num_frames)]
    stride = length - max(1, length // 4)
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    return [(s, s + length) for s in starts]


def pyramid(length: int) -> torch.Tensor:
    """Blend weights of a window's frames: 1, 2, ... towards the middle and back (FreeNoise's pyramid)."""
    i = torch.arange(length, dtype=torch.float32)
    return torch.minimum(i + 1, length - i)

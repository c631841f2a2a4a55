"""Where scenes sit in time. Time is integer frames at the storyboard's fps, never float seconds.

A crossfade of k frames overlaps a scene's last k frames with the next scene's first k, so it shortens the
whole by k. A fade goes to black over the scene's last k frames and the next scene fades in over its first
k, so it does not change the length. A cut is instantaneous.
"""

from __future__ import annotations

from dataclasses import dataclass

from .storyboard import Scene, Storyboard, TransitionKind


@dataclass(frozen=True)
class Placement:
    scene_id: str
    start: int  # first frame of the scene in the stitched timeline
    num_frames: int
    overlap_next: int  # frames shared with the next scene (crossfade), else 0

    @property
    def end(self) -> int:
        return self.start + self.num_frames


def overlap_after(scenes: list[Scene], index: int) -> int:
    scene = scenes[index]
    if index + 1 >= len(scenes) or scene.transition.kind is not TransitionKind.crossfade:
        return 0
    return min(scene.transition.frames, scene.num_frames, scenes[index + 1].num_frames)


def placements(sb: Storyboard) -> list[Placement]:
    out: list[Placement] = []
    start = 0
    for i, scene in enumerate(sb.scenes):
        ov = overlap_after(sb.scenes, i)
        out.append(Placement(scene.id, start, scene.num_frames, ov))
        start += scene.num_frames - ov
    return out


def scene_starts(sb: Storyboard) -> dict[str, int]:
    return {p.scene_id: p.start for p in placements(sb)}


def total_frames(sb: Storyboard) -> int:
    return sum(s.num_frames for s in sb.scenes) - sum(overlap_after(sb.scenes, i) for i in range(len(sb.scenes)))


def seconds(frames: int, fps: int) -> float:
    """For display only."""
    return frames / fps


def timecode(frames: int, fps: int) -> str:
    """`MM:SS:FF` for people reading a timeline."""
    secs, ff = divmod(frames, fps)
    mm, ss = divmod(secs, 60)
    return f"{mm:02d}:{ss:02d}:{ff:02d}"

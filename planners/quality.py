"""The plan-quality score: every check of the planner, run on a storyboard as it is now (planned, then
perhaps edited), with a verdict per check per scene and a total.

The same checks drive the planner's refinement rounds (`planners.story`, `planners.checks`); here they
only judge. `flowdrafter check DIR --quality` prints the report, the planner's log ends with its summary,
and the editor shows a scene's verdicts next to its warnings (`ui.views.scene_quality`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flowdrafter.core.storyboard import Storyboard

from .checks import check_layout
from .layout import layout_of, scene_context
from .schemas import ScriptReply, ScriptScene
from .story import story_problems
from .words import head, repeats, same_thing, subjects

CHECKS = ("coverage", "copies", "order", "identity", "motion", "layout")
_KIND_TO_CHECK = {
    "coverage": "coverage", "copy": "copies", "order": "order", "identity": "identity",
    "direction": "motion", "follow": "motion", "background": "motion",
}  # every other layout problem (outside, small, large, missing, jump, overlap, continuity) is "layout"
STORY = "story"


@dataclass(frozen=True)
class Verdict:
    check: str  # one of CHECKS
    where: str  # "story" (the whole plan: cast, entities) or a scene id
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class QualityReport:
    verdicts: tuple[Verdict, ...]

    @property
    def passed(self) -> int:
        return sum(v.ok for v in self.verdicts)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 1.0

    def at(self, where: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.where == where]

    def summary(self) -> str:
        failed = sorted({v.check for v in self.verdicts if not v.ok}, key=CHECKS.index)
        return f"quality {self.passed}/{self.total} checks passed ({self.score:.0%})" + (f"; weak: {', '.join(failed)}" if failed else "")

    def lines(self) -> list[str]:
        """One line per place (the story, then each scene): every check's verdict, then each problem."""
        out = []
        for where in dict.fromkeys(v.where for v in self.verdicts):
            verdicts = self.at(where)
            out.append(f"{where}: " + "  ".join(f"{v.check} {'ok' if v.ok else 'FAIL'}" for v in verdicts))
            out += [f"  - {v.check}: {p}" for v in verdicts for p in v.problems]
        out.append(self.summary())
        return out


def plan_quality(sb: Storyboard) -> QualityReport:
    """Every check's verdict: for the story (coverage of the cast, entity descriptions, one entity per
    thing) and for each scene (its cast, copies, order, background, motion, layout)."""
    found: dict[tuple[str, str], list[str]] = {}

    def add(check: str, where: str, message: str) -> None:
        found.setdefault((check, where), []).append(message)

    cast = list(sb.cast) or subjects(sb.prompt)
    names = {e.id: e.name for e in sb.entities}
    # the story: every cast name is an entity; no description is the whole prompt; one entity per thing
    for c in cast:
        if not any(head(e.name) == head(c) for e in sb.entities):
            add("coverage", STORY, f'"{c}" is in the story but is not an entity')
    for e in sb.entities:
        if e.description and repeats(e.description, sb.prompt):
            add("copies", STORY, f"entity {e.id}: its description repeats the whole prompt")
    for i, a in enumerate(sb.entities):
        for b in sb.entities[i + 1 :]:
            together = any(s.track(a.id) and s.track(b.id) for s in sb.scenes)
            if same_thing(a.name, b.name) == "same" and not together:
                add("identity", STORY, f'entities {a.id} and {b.id} ("{a.name}", "{b.name}") are the same thing')
    # each scene: the story checks on the script as the storyboard now tells it, then the layout checks
    script = ScriptReply.model_construct(
        title=sb.title,
        style=sb.style,
        scenes=[
            ScriptScene.model_construct(
                title=s.title, event=s.event, camera=s.camera.motion, duration=1, continues=False,
                foreground=[names.get(t.entity, t.entity) for t in s.tracks],
                background=names.get(s.background, "") if s.background else "",
            )
            for s in sb.scenes
        ],
    )
    ids = [s.id for s in sb.scenes]
    for p in story_problems(script, cast, sb.prompt):
        if p.kind == "coverage" and p.scene is None:
            continue  # the story-level verdict above says it with entities
        where = ids[int(p.scene) - 1] if p.scene else STORY
        add(_KIND_TO_CHECK[p.kind], where, p.message)
    for index, s in enumerate(sb.scenes):
        ctx = scene_context(sb, index)
        for p in check_layout(layout_of(s), ctx):
            add(_KIND_TO_CHECK.get(p.kind, "layout"), s.id, p.message)
    verdicts = [Verdict(c, STORY, tuple(found.get((c, STORY), ()))) for c in ("coverage", "copies", "identity")]
    verdicts += [Verdict(c, s.id, tuple(found.get((c, s.id), ()))) for s in sb.scenes for c in CHECKS]
    return QualityReport(tuple(verdicts))

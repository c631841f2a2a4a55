"""One question to the LLM, made safe: cache, constrained reply, tolerant parsing, validation, one re-ask
quoting the validator's errors, then deterministic repair, and only then a `PlanningError`.

`Asker` carries what every stage needs (backend, settings, seed, cache, progress) and records per-call
statistics that the benchmark reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from flowdrafter.core.errors import PlanningError
from flowdrafter.core.settings import Settings
from flowdrafter.core.storyboard import validation_problems

from .cache import ReplyCache, reply_key
from .jsonparse import ReplyParseError, parse_reply
from .llm import LLM, Completion, Progress
from .templates import load

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_QUOTED_ERRORS = 8
MAX_ECHOED_REPLY = 6000  # characters of a bad reply echoed back in the re-ask


class InvalidReply(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems or ["the reply is invalid"]
        super().__init__("; ".join(self.problems))


def strict(model: type[M], extra: Callable[[M], list[str]] | None = None) -> Callable[[dict[str, Any]], M]:
    """A validator: the reply model's own checks, then the stage's context checks; raises InvalidReply."""

    def check(data: dict[str, Any]) -> M:
        try:
            reply = model.model_validate(data)
        except ValidationError as err:
            raise InvalidReply(validation_problems(err, data)) from None
        problems = extra(reply) if extra else []
        if problems:
            raise InvalidReply(problems)
        return reply

    return check


@dataclass(frozen=True)
class CallStat:
    stage: str
    label: str
    tokens: int
    seconds: float
    cached: bool


@dataclass
class Asker:
    llm: LLM
    settings: Settings
    seed: int
    progress: Progress | None = None
    cache: ReplyCache | None = None
    stats: list[CallStat] = field(default_factory=list)

    def say(self, message: str) -> None:
        if self.progress:
            self.progress(message)

    def complete(self, *, stage: str, label: str, template: str, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int) -> Completion:
        """One reply, from the cache when the exact same question was asked of the same model before."""
        max_tokens = max(16, min(max_tokens, self.settings.llm_max_tokens))
        request = {
            "messages": messages,
            "schema": schema,
            "max_tokens": max_tokens,
            "temperature": self.settings.llm_temperature,
            "seed": self.seed,
        }
        key = reply_key(model_id=self.llm.model_id, template=template, stage=stage, request=request)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.append(CallStat(stage, label, int(hit.get("tokens", 0)), 0.0, True))
                self.say(f"{label}: cached reply")
                return Completion(hit["text"], int(hit.get("tokens", 0)), 0.0, bool(hit.get("truncated", False)))
        reply = self.llm.complete(
            messages,
            schema=schema,
            max_tokens=max_tokens,
            temperature=self.settings.llm_temperature,
            seed=self.seed,
            on_tokens=lambda n, secs: self.say(f"{label}: {n} tokens so far ({n / secs:.0f} tokens/s)"),
        )
        self.stats.append(CallStat(stage, label, reply.tokens, reply.seconds, False))
        rate = reply.tokens / reply.seconds if reply.seconds > 0 else 0.0
        self.say(f"{label}: {reply.tokens} tokens in {reply.seconds:.1f} s ({rate:.0f} tokens/s)" + (", cut at max_tokens" if reply.truncated else ""))
        if self.cache is not None:
            self.cache.put(key, {"text": reply.text, "tokens": reply.tokens, "seconds": round(reply.seconds, 3), "truncated": reply.truncated, "model": self.llm.model_id, "stage": stage})
        return reply

    def ask(
        self,
        *,
        stage: str,
        label: str,
        template: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        max_tokens: int,
        validate: Callable[[dict[str, Any]], T],
        repair: Callable[[dict[str, Any]], T],
    ) -> tuple[T, list[str]]:
        """(reply, notes). Notes say what repair had to change, for the scene warnings."""
        first = self.complete(stage=stage, label=label, template=template, messages=messages, schema=schema, max_tokens=max_tokens)
        data1, problems1 = parse_and_validate(first.text, validate)
        if problems1 is None:
            return data1, []
        self.say(f"{label}: reply rejected ({problems1[0]}); asking again")
        reask = load("reask")
        retry_messages = [
            *messages,
            {"role": "assistant", "content": first.text[:MAX_ECHOED_REPLY]},
            *reask.render(errors="\n".join(f"- {p}" for p in problems1[:MAX_QUOTED_ERRORS])),
        ]
        second = self.complete(stage=stage, label=f"{label} (again)", template=f"{template}|{reask.version}", messages=retry_messages, schema=schema, max_tokens=max_tokens)
        data2, problems2 = parse_and_validate(second.text, validate)
        if problems2 is None:
            return data2, []
        raw = next((d for d in (data2, data1) if isinstance(d, dict)), None)
        if raw is None:
            raise PlanningError(f"{label}: the LLM's reply is not usable JSON, twice ({problems2[0]})")
        try:
            fixed = repair(raw)  # may raise PlanningError itself when there is nothing to build on
        except (ValueError, TypeError, ValidationError) as err:  # repair must not fail; if it does, say so plainly
            raise PlanningError(f"{label}: the LLM's reply could not be repaired ({problems2[0]}; {err})") from None
        self.say(f"{label}: repaired the reply ({problems2[0]})")
        return fixed, [f"{label}: the LLM's reply was repaired automatically ({problems2[0]})"]


def parse_and_validate(text: str, validate: Callable[[dict[str, Any]], T]) -> tuple[Any, list[str] | None]:
    """(validated reply, None) on success, else (parsed dict or None, problems)."""
    try:
        data = parse_reply(text)
    except ReplyParseError as err:
        return None, [str(err)]
    try:
        return validate(data), None
    except InvalidReply as err:
        return data, err.problems

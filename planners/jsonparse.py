"""Turn an LLM reply into a JSON object, whatever the model did to it.

Constrained decoding enforces structure but not good manners: replies arrive wrapped in code fences, with
raw control characters inside strings, numbers like `7.7e98`, `NaN`, `inf`, a thousand-digit integer, text
after the closing brace, or cut off by `max_tokens` in the middle of a string. This module recovers an
object from all of those and raises `ReplyParseError` (saying where it gave up) for anything else.
"""

from __future__ import annotations

import json
import re
from typing import Any


class ReplyParseError(ValueError):
    """The reply holds no recoverable JSON object."""


_BARE = {"nan": "NaN", "inf": "Infinity", "infinity": "Infinity"}
_WORD = re.compile(r"[+-]?[A-Za-z]+")
_PARTIAL_LITERAL = re.compile(r"(?:t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?)$")


def _int(text: str) -> int | float:
    # Python refuses to parse integers over 4300 digits; a model can write one. Any such number is out of
    # every range we accept, so infinity carries the meaning.
    if len(text.lstrip("-")) > 300:
        return float("-inf") if text.startswith("-") else float("inf")
    return int(text)


def _loads(text: str) -> Any:
    return json.loads(text, strict=False, parse_int=_int)


def _normalize_bare_words(text: str) -> tuple[str, bool, list[str], bool]:
    """Replace bare nan/inf outside strings; report (text, ended inside a string, open brackets, key pending)."""
    out: list[str] = []
    stack: list[str] = []
    expect_key: list[bool] = []  # per open object: is the next string a key?
    in_string = False
    escaped = False
    string_is_key = False
    key_pending = False  # a key string closed but its ':' not seen yet
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
                if string_is_key:
                    key_pending = True
            i += 1
            continue
        if c == '"':
            in_string = True
            string_is_key = bool(stack) and stack[-1] == "{" and expect_key[-1]
            if string_is_key:
                expect_key[-1] = False
            out.append(c)
        elif c in "{[":
            stack.append(c)
            expect_key.append(c == "{")
            out.append(c)
        elif c in "}]":
            if stack:
                stack.pop()
                expect_key.pop()
            out.append(c)
        elif c == ",":
            if stack and stack[-1] == "{":
                expect_key[-1] = True
            out.append(c)
        elif c == ":":
            key_pending = False
            out.append(c)
        elif c.isalpha() or (c in "+-" and i + 1 < n and text[i + 1].isalpha()):
            m = _WORD.match(text, i)
            word = m.group(0) if m else c
            sign = word[0] if word[0] in "+-" else ""
            core = word.lstrip("+-").lower()
            if core in _BARE:
                out.append(("-" if sign == "-" else "") + _BARE[core])
            else:
                out.append(word)
            i += len(word)
            continue
        else:
            out.append(c)
        i += 1
    if in_string:
        key_pending = string_is_key
    return "".join(out), in_string, stack, key_pending


def _close_truncated(text: str) -> str:
    """Finish a reply cut off mid-way: close the string, drop a dangling key or number, close brackets."""
    text, in_string, stack, key_pending = _normalize_bare_words(text)
    if in_string:
        if text.endswith("\\"):
            text = text[:-1]
        text += '"'
    else:
        text = text.rstrip()
        text = re.sub(r"[-+.eE]+$", "", text) if re.search(r"\d[-+.eE]+$|[-+]$", text) else text
        m = _PARTIAL_LITERAL.search(text)
        if m and m.group(0) not in ("true", "false", "null"):
            text = text[: m.start()] + "null"
    text = text.rstrip()
    if key_pending and not in_string:
        text += ": null"
    elif in_string and key_pending:
        text += ": null"
    elif text.endswith(":"):
        text += " null"
    text = text.rstrip().rstrip(",")
    for opener in reversed(stack):
        text = text.rstrip().rstrip(",")
        text += "}" if opener == "{" else "]"
    return text


def parse_reply(text: str) -> dict[str, Any]:
    """The first JSON object in `text`, recovered as described in the module docstring."""
    if not isinstance(text, str) or not text.strip():
        raise ReplyParseError("the reply is empty")
    start = text.find("{")
    if start < 0:
        raise ReplyParseError(f"the reply holds no JSON object (it starts with {text.strip()[:40]!r})")
    body = text[start:]
    decoder = json.JSONDecoder(strict=False, parse_int=_int)
    first_error: json.JSONDecodeError | None = None
    try:
        obj, _ = decoder.raw_decode(body)
    except json.JSONDecodeError as err:
        first_error = err
        obj = None
    except ValueError as err:  # e.g. a float literal Python cannot read
        raise ReplyParseError(f"unreadable number in the reply: {err}") from None
    if obj is None:
        try:
            obj = _loads(_close_truncated(body))
        except (json.JSONDecodeError, ValueError):
            assert first_error is not None
            raise ReplyParseError(
                f"the reply is not valid JSON: {first_error.msg} at character {start + first_error.pos}"
            ) from None
    if not isinstance(obj, dict):
        raise ReplyParseError(f"the reply is a JSON {type(obj).__name__}, not an object")
    return obj

"""Smart prompts: the prompt a LoRA's preview is rendered with, and where each part came from.

The template is the settings' `full_prompt` when it is not empty, else `prompt`. It may use
`{trigger_words}` (the LoRA's trigger words joined by ", "; its name when it has none), `{title}`
(config.yaml `name`, else the file's stem) and `{name}` (the file's stem). A `prompt` without
`{trigger_words}` gets the trigger words put in front, as the seed did. Any other braces are left as
they are (dynamic-prompt syntax such as `{red|blue}` passes through).

A LoRA's `config.yaml` may hold `preview_prompt` / `preview_negative`: they replace the template / the
negative prompt for that LoRA (and may use the same placeholders). Every piece is bounded, so a
config.yaml with 10,000 trigger words still makes a prompt ComfyUI takes.

`preview_prompt(...)` returns a PreviewPrompt; `record()` is what is kept next to the preview.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .settings import MAX_TEXT

MAX_TRIGGER_WORDS = 32
MAX_WORD = 200
MAX_FIELD = 200            # title, name
MAX_PROMPT = MAX_TEXT      # the final positive and negative prompts
_PLACEHOLDER = re.compile(r"\{(trigger_words|title|name)\}")


@dataclass(frozen=True)
class PreviewPrompt:
    positive: str
    negative: str
    source: str            # "lora" (config.yaml preview_prompt), "full_prompt" or "prompt"
    negative_source: str   # "lora" (config.yaml preview_negative) or "settings"
    trigger_words: tuple

    def record(self) -> dict:
        return {"prompt": self.positive, "negative_prompt": self.negative, "prompt_source": self.source,
                "negative_prompt_source": self.negative_source, "trigger_words": list(self.trigger_words)}


def preview_prompt(settings: dict, lora_filename: str, config: dict | None = None) -> PreviewPrompt:
    """The prompt for one LoRA from validated settings, its file name and its config.yaml mapping."""
    config = config if isinstance(config, dict) else {}
    name = _clip(os.path.splitext(os.path.basename(lora_filename))[0], MAX_FIELD)
    title = _clip(_string(config.get("name")) or name, MAX_FIELD)
    words = trigger_words(config.get("trigger_words"))
    values = {"trigger_words": ", ".join(words) if words else name, "title": title, "name": name}

    own = _string(config.get("preview_prompt"))
    if own:
        template, source = own, "lora"
    elif settings.get("full_prompt"):
        template, source = settings["full_prompt"], "full_prompt"
    else:
        template, source = settings["prompt"], "prompt"
        if "{trigger_words}" not in template:
            template = "{trigger_words}, " + template if template.strip() else "{trigger_words}"
    own_negative = _string(config.get("preview_negative"))
    negative = own_negative or settings.get("negative_prompt") or ""
    return PreviewPrompt(positive=substitute(template, values), negative=substitute(negative, values),
                         source=source, negative_source="lora" if own_negative else "settings",
                         trigger_words=tuple(words))


def substitute(template: str, values: dict) -> str:
    """Placeholders replaced in one pass (a value holding '{name}' is not expanded again), bounded."""
    out = _PLACEHOLDER.sub(lambda m: values[m.group(1)], _clip(template, MAX_PROMPT))
    return _clip(out.strip(), MAX_PROMPT)


def trigger_words(value) -> list:
    """config.yaml `trigger_words` (a list, or one comma-separated string) as a bounded list, in
    order, without blanks or repeats."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    out, seen = [], set()
    for item in value:
        word = _clip(" ".join(str(item).split()), MAX_WORD) if isinstance(item, (str, int, float)) else ""
        if word and word.lower() not in seen:
            seen.add(word.lower())
            out.append(word)
        if len(out) == MAX_TRIGGER_WORDS:
            break
    return out


def _string(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at the last ', ' or space when there is one in the tail."""
    text = text.replace("\x00", "")
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for sep in (", ", " "):
        at = cut.rfind(sep)
        if at > limit // 2:
            return cut[:at]
    return cut

"""preview_config.json (library/previews/settings.py): defaults, every problem reported at once and
naming the file, older files kept readable with their unknown fields, deterministic JSON, and the file
organize writes; smart prompts (prompts.py) from real organized LoRAs."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from lora_atlas.demo.synthetic_loras import write_fixture
from lora_atlas.library import operations
from lora_atlas.library.config_files import read_config
from lora_atlas.library.errors import InvalidDocument
from lora_atlas.library.previews import prompts, settings


def _write(root, doc) -> str:
    path = os.path.join(str(root), "preview_config.json")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_defaults_keep_the_seed_fields_and_a_template_per_family(tmp_path):
    s = settings.load_settings(str(tmp_path))                      # no file: defaults
    assert (s["width"], s["height"], s["steps"], s["guidance_scale"], s["weight"]) == (640, 640, 30, 8.0, 1.0)
    for key in ("prompt", "full_prompt", "negative_prompt", "negative_prompt_source", "note"):
        assert key in s
    assert sorted(s["templates"]) == sorted(settings.FAMILIES)
    assert s["templates"]["sd1"]["checkpoint"] and "diffusion_model" not in s["templates"]["sd1"]
    flux = s["templates"]["flux"]
    assert flux["diffusion_model"] and len(flux["text_encoders"]) == 2 and flux["vae"]
    sd1 = settings.resolved(s, "sd1")                              # family value unset: the global one
    assert (sd1["width"], sd1["steps"], sd1["cfg"], sd1["weight"]) == (640, 30, 8.0, 1.0)
    sdxl = settings.resolved(s, "sdxl")                            # the family's own size
    assert (sdxl["width"], sdxl["height"]) == (1024, 1024)


def test_every_problem_is_reported_at_once_naming_the_file(tmp_path):
    path = _write(tmp_path, {
        "width": 65, "height": "640", "steps": 0, "guidance_scale": float("inf") if False else -1, "weight": True,
        "prompt": 3, "negative_prompt_source": "someone", "note": "x" * 5000,
        "templates": {
            "sdx1": {},                                                       # a typo of a family
            "flux": {"text_encoders": ["only_one.safetensors"], "sampler": "", "guidance": "high"},
            "sd1": {"checkpoint": "../../etc/passwd", "steps": 1000, "width": 100},
            "wan": {"checkpoint": "wan.safetensors", "vae": "v.safetensors", "lora_text_encoder": "yes"},
            "sd3": {"weight_dtype": "fp4", "scheduler": "karras; rm -rf"},
        }})
    with pytest.raises(InvalidDocument) as err:
        settings.load_settings(str(tmp_path))
    problems = err.value.problems
    assert all(p.startswith(path + ": ") for p in problems)
    text = "\n".join(problems)
    for fragment in ("width:", "height:", "steps:", "guidance_scale:", "weight:", "prompt:", "negative_prompt_source:",
                     "note:", "templates.sdx1: unknown family", "templates.flux.text_encoders: flux takes 2",
                     "templates.flux.sampler:", "templates.flux.guidance:", "templates.sd1.checkpoint:",
                     "templates.sd1.steps:", "templates.sd1.width:", "templates.wan.vae: give either",
                     "templates.wan.lora_text_encoder:", "templates.sd3.weight_dtype:", "templates.sd3.scheduler:"):
        assert fragment in text, fragment
    assert len(problems) == 19


def test_unreadable_or_wrong_shape_files_are_invalid_documents(tmp_path):
    path = _write(tmp_path, "{not json")
    with pytest.raises(InvalidDocument) as err:
        settings.load_settings(str(tmp_path))
    assert err.value.problems[0].startswith(path)
    _write(tmp_path, "[1, 2]")
    with pytest.raises(InvalidDocument, match="must be a JSON object"):
        settings.load_settings(str(tmp_path))


def test_older_files_stay_readable_and_unknown_fields_are_kept(tmp_path):
    legacy = {"enabled": True, "width": 512, "height": 512, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
              "positive": "{trigger_words}, best quality", "checkpoints": {}, "overwrite": False,
              "templates": {"sdxl": {"checkpoint": "pony.safetensors", "my_field": [1, 2]},
                            "flux": {"diffusion_model": "flux1-schnell.safetensors"}}}
    _write(tmp_path, legacy)
    s = settings.load_settings(str(tmp_path))
    for key in ("enabled", "cfg", "sampler_name", "positive", "checkpoints", "overwrite"):
        assert s[key] == legacy[key]
    assert (s["width"], s["steps"], s["guidance_scale"]) == (512, 20, 8.0)
    assert s["templates"]["sdxl"]["checkpoint"] == "pony.safetensors" and s["templates"]["sdxl"]["my_field"] == [1, 2]
    flux = s["templates"]["flux"]                   # one model changed: the others keep their defaults
    assert flux["diffusion_model"] == "flux1-schnell.safetensors" and len(flux["text_encoders"]) == 2
    sep = settings.validate({"templates": {"sd1": {"diffusion_model": "u.safetensors", "vae": "v.safetensors",
                                                   "text_encoders": ["clip_l.safetensors"]}}})
    assert "checkpoint" not in sep["templates"]["sd1"]             # switching form drops the other one


def test_dumps_is_deterministic_and_round_trips(tmp_path):
    s = settings.validate({"note": "é", "zz_unknown": {"b": 1, "a": 2}})
    raw = settings.dumps(s)
    assert raw == settings.dumps(json.loads(raw)) and raw.endswith(b"\n")
    _write(tmp_path, raw.decode("utf-8"))
    assert settings.dumps(settings.load_settings(str(tmp_path))) == raw


def _organized(tmp_path, metadata=None):
    root = tmp_path / "lib"
    root.mkdir()
    write_fixture("sd1_lora", str(root / "Hero_Style.safetensors"), rank=2, metadata=metadata)
    operations.organize(str(root))
    (config_path,) = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f == "config.yaml"]
    return str(root), config_path


def test_organize_writes_the_new_preview_config_and_it_loads(tmp_path):
    root, _ = _organized(tmp_path)
    with open(os.path.join(root, "preview_config.json"), encoding="utf-8") as fh:
        written = json.load(fh)
    assert written == settings.default_settings()
    assert settings.load_settings(root) == written


def test_prompts_use_trigger_words_title_and_name(tmp_path):
    root, config_path = _organized(tmp_path, {"modelspec.title": "Hero Style", "modelspec.trigger_phrase": "hro, cape"})
    config = read_config(config_path)
    s = settings.validate({"prompt": "{trigger_words}, portrait of {title} ({name}), {red|blue}"})
    p = prompts.preview_prompt(s, config["filename"], config)
    words = ", ".join(config["trigger_words"])         # the trigger phrase first, then training tags
    assert words.startswith("hro, cape")
    assert p.positive == words + ", portrait of Hero Style (Hero_Style), {red|blue}"
    assert p.source == "prompt" and p.negative == s["negative_prompt"] and p.negative_source == "settings"
    assert p.record()["prompt"] == p.positive and p.record()["trigger_words"] == config["trigger_words"]
    s2 = settings.validate({"prompt": "masterpiece"})                             # no placeholder: triggers first
    assert prompts.preview_prompt(s2, config["filename"], config).positive == words + ", masterpiece"
    s3 = settings.validate({"full_prompt": "{title} only"})
    p3 = prompts.preview_prompt(s3, config["filename"], config)
    assert (p3.positive, p3.source) == ("Hero Style only", "full_prompt")


def test_without_trigger_words_the_name_is_used_and_config_overrides_win(tmp_path):
    root, config_path = _organized(tmp_path)
    config = read_config(config_path)
    config["trigger_words"] = []
    s = settings.validate(None)
    p = prompts.preview_prompt(s, config["filename"], config)
    assert p.positive.startswith("Hero_Style, ") and p.trigger_words == ()
    config.update(preview_prompt="a {name} on a {title}", preview_negative="no {name}")
    with open(config_path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh)
    config = read_config(config_path)
    p = prompts.preview_prompt(s, config["filename"], config)
    assert (p.positive, p.source) == (f"a Hero_Style on a {config['name']}", "lora")
    assert (p.negative, p.negative_source) == ("no Hero_Style", "lora")


def test_prompt_lengths_are_bounded():
    s = settings.validate({"prompt": "{trigger_words} " + "y" * 3000})
    config = {"trigger_words": [f"word{i} " + "x" * 300 for i in range(10_000)], "name": "t" * 10_000,
              "preview_negative": "{title} " * 2000}
    p = prompts.preview_prompt(s, "a.safetensors", config)
    assert len(p.positive) <= prompts.MAX_PROMPT and len(p.negative) <= prompts.MAX_PROMPT
    assert len(p.trigger_words) == prompts.MAX_TRIGGER_WORDS and all(len(w) <= prompts.MAX_WORD for w in p.trigger_words)
    assert prompts.trigger_words("a, b ,A,, c") == ["a", "b", "c"]
    assert prompts.substitute("{name}", {"name": "{title}", "title": "no", "trigger_words": ""}) == "{title}"

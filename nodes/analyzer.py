"""LoRA Block Analyzer: a LoRA's per-block energy as a chart IMAGE (shown in the graph), the block
table as text and the full analysis as JSON text (engine.analysis; nothing computed here)."""

from __future__ import annotations

import json
import os

from . import comfy_glue


def block_table(analysis: dict) -> str:
    rows = [f"{'block':<10}{'energy':>12}{'share':>9}{'spectral':>11}{'eff.rank':>10}{'modules':>9}"]
    for b in analysis.get("blocks", []):
        rows.append(f"{b['name']:<10}{b['energy']:>12.5g}{b['share'] * 100:>8.1f}%{b['spectral_norm']:>11.4g}"
                    f"{b['effective_rank']:>10.3g}{b['modules']:>9}")
    head = (f"{analysis.get('architecture')} {analysis.get('adapter')}: total energy {analysis.get('total_energy', 0):.5g}"
            f" (text encoders {analysis.get('clip_share', 0) * 100:.1f}%)")
    return head + "\n" + "\n".join(rows)


def analyze(lora_name: str) -> dict:
    path = comfy_glue.lora_path(lora_name)
    analysis = comfy_glue.get_state().analysis(lora_name, path)
    if not analysis.get("ok"):
        raise ValueError(f"{lora_name}: cannot be analysed: {analysis.get('error')}")
    return analysis


class LoraAtlasBlockAnalyzer:
    CATEGORY = "LoRA Atlas"
    DESCRIPTION = "Measure how strongly a LoRA changes each block (energy ‖ΔW‖², from the weights)."
    RETURN_TYPES = ("IMAGE", "STRING", "STRING")
    RETURN_NAMES = ("chart", "table", "analysis_json")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "lora_name": (comfy_glue.lora_names(), {"tooltip": "a LoRA file (or link a LoRA Library Browser)"}),
            "chart_width": ("INT", {"default": 768, "min": 256, "max": 2048, "step": 64}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, lora_name):
        if lora_name is None:             # linked (e.g. from a Browser): known only when the graph runs
            return True
        try:
            comfy_glue.lora_path(lora_name)
        except ValueError as exc:
            return str(exc)
        return True

    @classmethod
    def IS_CHANGED(cls, lora_name, chart_width=768):
        try:
            st = os.stat(comfy_glue.lora_path(lora_name))
            return f"{st.st_mtime_ns}:{st.st_size}:{chart_width}"
        except (ValueError, OSError):
            return float("nan")

    def run(self, lora_name, chart_width=768):
        from .images import bar_chart
        analysis = analyze(lora_name)
        rows = [(b["name"], b["energy"]) for b in analysis["blocks"] if b["modules"]]
        if analysis.get("text_encoder_energy"):
            rows.append(("TE", analysis["text_encoder_energy"]))
        chart = bar_chart(rows, f"{os.path.basename(lora_name)}: energy per block", chart_width)
        return (chart, block_table(analysis), json.dumps(analysis, sort_keys=True))


NODE_CLASS_MAPPINGS = {"LoraAtlasBlockAnalyzer": LoraAtlasBlockAnalyzer}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraAtlasBlockAnalyzer": "LoRA Block Analyzer (LoRA Atlas)"}

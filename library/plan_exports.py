"""A plan as the user takes it away: canonical JSON, CSV rows, Inspire lines, A1111 prompt tags,
and the one text rendering (CLI, the Planner node's text, the text export).

Exports are deterministic: JSON with sorted keys, CSV rows sorted by LoRA path then vector
position, numbers in Inspire's canonical form (at most 4 decimals) or 6 significant digits.
Timestamps never appear in an exported plan.
"""

from __future__ import annotations

import csv
import io

import orjson

from ..engine.block_vectors import canonical_number
from .errors import InvalidDocument
from .text_table import table

FORMATS = ("json", "csv", "text", "inspire", "a1111")
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "text": "text/plain", "inspire": "text/plain",
                 "a1111": "text/plain"}
PLAN_CSV = ("lora", "position", "ratio", "strength_model", "strength_clip", "block_vector")


def canonical_json(document) -> bytes:
    """The bytes a plan is stored and printed as (sorted keys, two-space indent, final newline),
    the same as `lora-atlas plan --json` prints."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def csv_text(header, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def check_format(fmt, formats=FORMATS) -> str:
    if fmt not in formats:
        raise InvalidDocument([f"format: one of {', '.join(formats)}, got {fmt!r}"])
    return fmt


def plan_rows(plan_doc: dict) -> list:
    """One row per LoRA per vector position (PLAN_CSV), sorted by LoRA path then position."""
    rows = []
    for lo in sorted(plan_doc.get("loras", []), key=lambda lo: lo["path"]):
        ratio = {}
        for b in lo.get("blocks", []):
            ratio.setdefault(b["position"], b["ratio"])
        for p in lo.get("positions", []):
            rows.append([lo["path"], p, canonical_number(ratio.get(p, 1.0)), canonical_number(lo["strength_model"]),
                         canonical_number(lo["strength_clip"]), lo["block_vector"]])
    return rows


def export_plan(plan_doc: dict, fmt: str = "json") -> str:
    """A plan in one of FORMATS: the whole document as canonical JSON, CSV (PLAN_CSV columns),
    the text rendering, one Inspire line per LoRA, or the A1111 prompt tags."""
    check_format(fmt)
    if fmt == "json":
        return canonical_json(plan_doc).decode()
    if fmt == "csv":
        return csv_text(PLAN_CSV, plan_rows(plan_doc))
    if fmt == "text":
        return plan_text(plan_doc) + "\n"
    if fmt == "inspire":
        return "".join(f"{lo['path']}\tstrength_model={lo['strength_model']:g}\tstrength_clip={lo['strength_clip']:g}\t"
                       f"block_vector={lo['block_vector']}\n" for lo in plan_doc["loras"])
    return " ".join(lo["a1111"]["prompt"] for lo in plan_doc["loras"] if lo.get("a1111")) + "\n"


def plan_text(plan: dict) -> str:
    """The plan for a person: per LoRA its strengths, vector, A1111 tag and the blocks it changes
    (ratio, energy before and after, reason), then the blocks the stack shares, then warnings."""
    lines = [f"plan: {len(plan['loras'])} LoRA(s), {plan['architecture']}, policy {plan['policy']}, "
             f"headroom {plan['headroom']:g}"]
    for lo in plan["loras"]:
        lines += ["", f"{lo['path']}  (role: {lo.get('role') or '-'})",
                  f"  strength_model {lo['strength_model']:g}  strength_clip {lo['strength_clip']:g}  "
                  f"(text-encoder scale {lo['text_encoder_scale']:g})",
                  f"  block_vector  {lo['block_vector']}"]
        if lo.get("a1111"):
            lines.append(f"  A1111         {lo['a1111']['prompt']}")
        rows = [[b["block"], b["position"] if b["position"] != b["block"] else "", f"{b['ratio']:g}",
                 f"{b['energy_before']:.4g}", f"{b['energy_after']:.4g}", b["reason"]]
                for b in lo["blocks"] if b["energy_before"] or b["ratio"] != 1]
        if rows:
            lines.append("  " + table(rows, ["block", "position", "ratio", "before", "after", "reason"]).replace("\n", "\n  "))
        lines += [f"  note: {n}" for n in lo.get("notes", [])]
    rows = [[r["name"], r["loras"], f"{r['energy_before']:.4g}", f"{r['budget']:.4g}", f"{r['energy_after']:.4g}",
             r["status"]] for r in plan["stack"]["blocks"] + plan["stack"]["text_encoders"] if r["loras"] > 1]
    if rows:
        lines += ["", "stack (blocks shared by several LoRAs):",
                  "  " + table(rows, ["block", "LoRAs", "before", "budget", "after", "status"]).replace("\n", "\n  ")]
    lines += [f"warning: {w}" for w in plan.get("warnings", [])]
    return "\n".join(lines)

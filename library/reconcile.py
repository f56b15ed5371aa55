"""Validate `index.json` against the folders (the seed's `lora-reconcile`). Changes nothing.

Errors (exit code 1): an indexed folder is missing, or lacks its `config.yaml` or its LoRA file; a
quarantined file is gone; `index.json` is missing or not valid JSON; an organize was interrupted.
Warnings: folders with LoRA files that the index does not list, LoRAs not organized yet,
`config.yaml` files that are not valid YAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import config_files as cf
from . import index_files, journal
from .config_files import CONFIG_NAME
from .scan import QUARANTINE_DIR, ScanReport, walk


@dataclass
class ReconcileReport:
    root: str
    indexed: int = 0
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    repaired: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {"root": self.root, "indexed": self.indexed, "ok": self.ok, "errors": self.errors,
                "warnings": self.warnings, "repaired": self.repaired}


def reconcile(root: str) -> ReconcileReport:
    root = os.path.abspath(root)
    report = ReconcileReport(root=root)
    for run in journal.runs(root):
        if run.state == "running":
            report.errors.append(f"run {run.number} ({run.kind}) was interrupted; run 'organize' or "
                                 "'reconcile --repair' to finish it safely")
    index_path = os.path.join(root, index_files.INDEX_NAME)
    try:
        index = index_files.read_json(index_path)
    except index_files.JsonUnreadable as exc:
        report.errors.append(f"{index_files.INDEX_NAME}: {exc}; 'reconcile --repair' rebuilds it (keeping a copy)")
        return report
    if index is None:
        report.errors.append(f"no {index_files.INDEX_NAME} in '{root}'; run 'lora-atlas organize' first")
        return report
    if not isinstance(index, dict):
        report.errors.append(f"{index_files.INDEX_NAME}: not a JSON object; 'reconcile --repair' rebuilds it")
        return report
    report.indexed = len(index)
    indexed_folders = set()
    for slug, entry in sorted(index.items()):
        if not isinstance(entry, dict) or not isinstance(entry.get("folder"), str) or not entry.get("filename"):
            report.errors.append(f"{slug}: index entry lacks 'folder' or 'filename'")
            continue
        folder, filename = entry["folder"], entry["filename"]
        indexed_folders.add(folder)
        where = os.path.join(root, folder)
        if not entry.get("compatible", True):
            if not os.path.exists(os.path.join(where, filename)):
                report.errors.append(f"{slug}: quarantined file '{folder}/{filename}' is missing")
            continue
        if not os.path.isdir(where):
            report.errors.append(f"{slug}: folder '{folder}' is missing")
            continue
        if not os.path.isfile(os.path.join(where, filename)):
            report.errors.append(f"{slug}: '{folder}/{filename}' is missing")
        cfg = os.path.join(where, CONFIG_NAME)
        if not os.path.isfile(cfg):
            report.errors.append(f"{slug}: '{folder}/{CONFIG_NAME}' is missing")
        else:
            try:
                cf.read_config(cfg)
            except cf.ConfigUnreadable as exc:
                report.warnings.append(f"{slug}: '{folder}/{CONFIG_NAME}' is {exc}")
    scan = ScanReport(root=root)
    disk = walk(root, scan)
    report.warnings.extend(scan.problems)
    by_folder = {}
    for p in sorted(disk):
        by_folder.setdefault(p.rsplit("/", 1)[0] if "/" in p else "", []).append(p)
    for folder in sorted(set(scan.lora_counts) | scan.config_dirs):
        if folder in indexed_folders or folder.split("/")[0] == QUARANTINE_DIR:
            continue
        loose = by_folder.get(folder, [])
        if folder in scan.config_dirs:
            report.warnings.append(f"{folder}/: a LoRA folder that index.json does not list")
        elif loose:
            report.warnings.append(f"{folder or '.'}/: {len(loose)} LoRA file(s) not organized yet (e.g. '{loose[0]}')")
    return report

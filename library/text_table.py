"""Plain-text tables for people: left-aligned columns separated by two spaces, a dashed rule
under the headers. Used by plan renderings here and by every CLI listing."""

from __future__ import annotations


def table(rows: list, headers: list) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)

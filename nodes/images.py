"""PIL images ↔ ComfyUI IMAGE tensors ([B, H, W, C] float in 0..1). torch and PIL load lazily."""

from __future__ import annotations


def to_image(pil):
    import numpy as np
    import torch
    arr = np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy())[None, ...]


def blank(size: int = 64):
    import torch
    return torch.zeros((1, size, size, 3), dtype=torch.float32)


def load_image(path: str | None, max_side: int = 1024):
    """The image at `path` as an IMAGE (downscaled to `max_side`), or a blank one."""
    if not path:
        return blank()
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.thumbnail((max_side, max_side))
            return to_image(im)
    except (OSError, ValueError):
        return blank()


def bar_chart(rows: list, title: str, width: int = 768):
    """A horizontal bar chart of (label, value) rows as an IMAGE."""
    from PIL import Image, ImageDraw
    bar_h, pad, label_w = 18, 8, 90
    height = pad * 3 + 16 + max(1, len(rows)) * bar_h
    im = Image.new("RGB", (width, height), (24, 26, 30))
    d = ImageDraw.Draw(im)
    d.text((pad, pad), title[:110], fill=(230, 230, 230))
    top = pad * 2 + 16
    peak = max((v for _, v in rows), default=0.0) or 1.0
    span = width - label_w - pad * 2 - 60
    for i, (label, value) in enumerate(rows):
        y = top + i * bar_h
        d.text((pad, y + 3), str(label)[:12], fill=(200, 200, 200))
        w = int(span * max(0.0, value) / peak)
        d.rectangle([label_w, y + 2, label_w + max(w, 1), y + bar_h - 3], fill=(86, 156, 214))
        d.text((label_w + w + 6, y + 3), f"{value:.3g}", fill=(200, 200, 200))
    return to_image(im)


def to_pil(image):
    """The first image of an IMAGE batch as a PIL RGB image."""
    import numpy as np
    from PIL import Image
    arr = np.clip(image[0].cpu().numpy() * 255.0, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[..., :3])


def png_bytes(pil) -> bytes:
    import io
    out = io.BytesIO()
    pil.save(out, format="PNG")
    return out.getvalue()


def labelled_grid(cells: list, row_labels: list, col_labels: list, title: str):
    """PIL images `cells[row][col]` stitched into one PIL image, a label left of each row, one above
    each column and a title line on top (PIL's default font: no font file needed)."""
    from PIL import Image, ImageDraw
    cell_w = max(im.width for row in cells for im in row)
    cell_h = max(im.height for row in cells for im in row)
    label_w, head_h, title_h, gap = 72, 18, 20, 4
    title = title[:160]
    # as wide as the title needs (PIL's default font: ~6 px a character), so the LoRA's name is whole
    width = max(label_w + len(col_labels) * (cell_w + gap), 8 + 6 * len(title))
    height = title_h + head_h + len(row_labels) * (cell_h + gap)
    grid = Image.new("RGB", (width, height), (24, 26, 30))
    d = ImageDraw.Draw(grid)
    d.text((4, 4), title, fill=(230, 230, 230))
    for j, label in enumerate(col_labels):
        d.text((label_w + j * (cell_w + gap) + 2, title_h + 3), str(label)[:16], fill=(200, 200, 200))
    for i, (label, row) in enumerate(zip(row_labels, cells)):
        y = title_h + head_h + i * (cell_h + gap)
        d.text((4, y + cell_h // 2 - 6), str(label)[:11], fill=(200, 200, 200))
        for j, im in enumerate(row):
            grid.paste(im.convert("RGB"), (label_w + j * (cell_w + gap), y))
    return grid

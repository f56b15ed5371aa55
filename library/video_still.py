"""The first frame of a video preview (`<stem>.preview.mp4`, `.webm`, ...) as a still image, so a
LoRA whose only preview is a video gets a picture before anything is rendered.

Uses the system's `ffmpeg` when there is one (Debian's package; never a Python dependency): no
ffmpeg, an undecodable video or a frame that takes too long give None with the reason, and the
LoRA is handled as if it had no preview. Only a regular file inside the folder is read (a link
could lead outside the library root), and the frame is scaled to at most 1024 px wide, so what is
read back is bounded.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_STILL_BYTES = 16 << 20
TIMEOUT = 30.0


def first_frame(path: str) -> tuple:
    """(PNG bytes, None) of the video's first frame, or (None, why not)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None, "no still made from it: ffmpeg is not installed"
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None, "not a regular file (a link is not followed)"
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "file:" + os.path.abspath(path),
           "-frames:v", "1", "-vf", "scale='min(1024,iw)':-2", "-f", "image2pipe", "-c:v", "png", "pipe:1"]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None, f"ffmpeg took more than {TIMEOUT:.0f} s"
    except OSError as exc:
        return None, f"ffmpeg could not run ({exc.strerror or exc})"
    out = proc.stdout
    if proc.returncode != 0 or not out.startswith(PNG_MAGIC) or len(out) > MAX_STILL_BYTES:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, "ffmpeg could not decode a frame" + (f" ({detail[-1][:200]})" if detail else "")
    return out, None

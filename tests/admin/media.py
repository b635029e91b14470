"""Real video files made with Debian's ffmpeg for the upload tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCES = ["-f", "lavfi", "-i", "testsrc=duration={s}:size=320x240:rate=10"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:duration={s}"]


def make_video(
    path: Path, *, seconds: int = 3, video: str = "libx264", audio: str | None = "aac"
) -> Path:
    """Encode a short test pattern (with a tone) into ``path``; the suffix picks the container."""
    args = ["ffmpeg", "-v", "error", "-y", *[a.format(s=seconds) for a in SOURCES]]
    if audio:
        args += [a.format(s=seconds) for a in AUDIO]
    args += ["-c:v", video]
    if video in ("libx264", "libx265"):
        args += ["-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", audio, "-shortest"]
    args.append(str(path))
    subprocess.run(args, check=True, timeout=120)
    return path

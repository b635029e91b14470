"""Make the demo videos once (needs ffmpeg and fonts-wqy-microhei; not needed at runtime).

    .venv/bin/python devtools/demo/media/generate.py

H.264 baseline in MP4 with the index up front (faststart): plays in Chrome, Edge, Safari
(iPhone included), Firefox and Debian's Chromium. Slides at 10 fps keep each minute ~60 KB.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from devtools.demo.learning import COURSES, DEMO_MEDIA  # noqa: E402

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def make(path: Path, course: str, title: str, lesson: int, seconds: int, colour: str) -> None:
    total = f"{seconds // 60:02d}\\:{seconds % 60:02d}"
    text = ",".join(
        [
            f"drawtext=fontfile={FONT}:text='{_escape('注册安全工程师继续教育')}'"
            ":fontcolor=white@0.8:fontsize=14:x=16:y=12",
            f"drawtext=fontfile={FONT}:text='{_escape(course)}'"
            ":fontcolor=white:fontsize=26:x=(w-text_w)/2:y=78",
            f"drawtext=fontfile={FONT}:text='{_escape(f'第{lesson}讲  {title}')}'"
            ":fontcolor=white@0.9:fontsize=18:x=(w-text_w)/2:y=122",
            f"drawtext=fontfile={FONT}:text='%{{pts\\:gmtime\\:0\\:%M\\\\\\:%S}} / {total}'"
            ":fontcolor=white:fontsize=16:x=(w-text_w)/2:y=192",
        ]
    )
    graph = (
        f"[0:v]{text}[bg];"
        f"[1:v][2:v]overlay=x='-400+400*t/{seconds}':y=0:shortest=1[bar];"
        "[bg][bar]overlay=x=40:y=228:shortest=1,format=yuv420p[out]"
    )
    lavfi = ["-f", "lavfi", "-i"]
    subprocess.run(
        ["ffmpeg", "-y", "-hide_banner", "-loglevel", "error"]
        + lavfi
        + [f"color=c={colour}:s=480x270:r=10:d={seconds}"]
        + lavfi
        + [f"color=c=0x9fb4cc:s=400x6:r=10:d={seconds}"]
        + lavfi
        + [f"color=c=white:s=400x6:r=10:d={seconds}"]
        + ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264"]
        + ["-profile:v", "baseline", "-pix_fmt", "yuv420p", "-crf", "32", "-g", "100"]
        + ["-movflags", "+faststart", str(path)],
        check=True,
    )


def main() -> None:
    for course in COURSES:
        for lesson, video in enumerate(course.videos, 1):
            path = DEMO_MEDIA / video.file
            make(path, course.name, video.title, lesson, video.seconds, course.colour)
            print(f"{path.name}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

"""What an uploaded video is: ffprobe (Debian's ffmpeg) reads its container, codecs and
duration, and ffmpeg takes a poster frame. Only what every current browser plays is
accepted: MP4 with H.264 video (and AAC sound, if any), or WebM with VP8/VP9/AV1 video
(and Vorbis/Opus sound)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

from app.errors import AppError

PROBE_SECONDS = 60
NOT_VIDEO = "该文件不是视频文件，请上传 MP4（H.264 + AAC）或 WebM 格式的视频"
CONVERT = "请用格式工厂、HandBrake 等工具转换为 MP4（H.264 视频 + AAC 音频）后重新上传"
PLAYABLE = {
    "mp4": ({"h264"}, {"aac"}, "video/mp4", ".mp4"),
    "webm": ({"vp8", "vp9", "av1"}, {"vorbis", "opus"}, "video/webm", ".webm"),
}
CODEC_NAMES = {"hevc": "H.265/HEVC", "mpeg4": "MPEG-4 Part 2", "mpeg2video": "MPEG-2"}


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    duration_ms: int
    mimetype: str
    suffix: str
    video_codec: str
    audio_codec: str | None
    width: int
    height: int


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AppError(
            "ffmpeg_missing", f"服务器未安装 {name}（Debian 软件包 ffmpeg），暂时无法处理视频", 503
        )
    return found


async def _run(*args: str, timeout: float = PROBE_SECONDS) -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AppError("video_timeout", "读取视频超时，请检查文件是否完整") from None
    return process.returncode, out


def _container(format_name: str) -> str | None:
    names = set(format_name.split(","))
    if "mp4" in names or "mov" in names:
        return "mp4"
    if "webm" in names or "matroska" in names:
        return "webm"
    return None


def judge(probe: dict) -> VideoInfo:
    """Whether ffprobe's description is a video a browser plays; the reason if not."""
    streams = probe.get("streams") or []
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    fmt = probe.get("format") or {}
    container = _container(fmt.get("format_name", ""))
    if not videos:
        raise AppError("video_not_video", NOT_VIDEO)
    if container is None:
        raise AppError(
            "video_format",
            f"视频封装格式 {fmt.get('format_long_name') or fmt.get('format_name')} 浏览器无法播放；{CONVERT}",
        )
    video_codecs, audio_codecs, mimetype, suffix = PLAYABLE[container]
    video = videos[0]
    vcodec = video.get("codec_name", "")
    if vcodec not in video_codecs:
        wanted = "H.264" if container == "mp4" else "VP8/VP9/AV1"
        raise AppError(
            "video_codec",
            f"视频编码为 {CODEC_NAMES.get(vcodec, vcodec or '未知')}，浏览器无法播放，应为 {wanted}；{CONVERT}",
        )
    acodec = audios[0].get("codec_name") if audios else None
    if acodec is not None and acodec not in audio_codecs:
        wanted = "AAC" if container == "mp4" else "Vorbis/Opus"
        raise AppError(
            "video_audio", f"音频编码为 {acodec}，浏览器无法播放，应为 {wanted}；{CONVERT}"
        )
    try:
        seconds = float(fmt.get("duration") or video.get("duration") or 0)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise AppError("video_duration", "无法读取视频时长，文件可能不完整，请重新导出后上传")
    return VideoInfo(
        duration_ms=round(seconds * 1000),
        mimetype=mimetype,
        suffix=suffix,
        video_codec=vcodec,
        audio_codec=acodec,
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
    )


async def probe(path: Path) -> VideoInfo:
    """Read a file's container, codecs and duration; AppError when browsers cannot play it."""
    code, out = await _run(
        _tool("ffprobe"),
        "-v",
        "error",
        "-show_entries",
        "format=format_name,format_long_name,duration:"
        "stream=codec_type,codec_name,width,height,duration:stream_disposition=attached_pic",
        "-of",
        "json",
        str(path),
    )
    if code != 0:
        raise AppError("video_not_video", NOT_VIDEO)
    try:
        data = json.loads(out or b"{}")
    except ValueError:
        raise AppError("video_not_video", NOT_VIDEO) from None
    return judge(data)


async def poster(path: Path, dest: Path, *, duration_ms: int) -> bool:
    """A JPEG still from a tenth of the way in (at most 10 s); False if none could be made."""
    at = min(10.0, duration_ms / 10000)
    dest.parent.mkdir(parents=True, exist_ok=True)
    code, _ = await _run(
        _tool("ffmpeg"),
        "-v",
        "error",
        "-y",
        "-ss",
        f"{at:.2f}",
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-vf",
        "scale=min(640\\,iw):-2",
        "-q:v",
        "4",
        str(dest),
    )
    return code == 0 and dest.exists() and dest.stat().st_size > 0


@dataclasses.dataclass(frozen=True)
class StoredMedia:
    """A media file already moved into the media directory (paths relative to it)."""

    file: str
    mimetype: str
    duration_ms: int
    size_bytes: int
    poster: str | None = None


def media_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "media"


async def store(data_dir: Path, part: Path, *, name: str) -> StoredMedia:
    """Check an uploaded file, move it into the media directory and take its poster frame.
    A file browsers cannot play raises AppError and stays where it was."""
    info = await probe(part)
    root = media_dir(data_dir)
    file = f"videos/{name}{info.suffix}"
    dest = root / file
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, dest)
    still = f"posters/{name}.jpg"
    made = await poster(dest, root / still, duration_ms=info.duration_ms)
    return StoredMedia(
        file=file,
        mimetype=info.mimetype,
        duration_ms=info.duration_ms,
        size_bytes=dest.stat().st_size,
        poster=still if made else None,
    )


def remove_files(data_dir: Path, files: list[str]) -> None:
    """Delete media files (relative names) that nothing refers to any more."""
    root = media_dir(data_dir).resolve()
    for name in files:
        path = (root / name).resolve()
        if root in path.parents:
            with contextlib.suppress(OSError):
                path.unlink()

"""Read a video's duration from the file itself (MP4/MOV and WebM/Matroska).

Only the container headers are parsed: the `mvhd` box of MP4, the Segment Info of WebM.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from app.errors import AppError

MIMETYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm"}
UNREADABLE = "无法读取视频时长：仅支持 MP4（H.264）或 WebM 格式的视频文件"


def duration_ms(path: str | Path) -> int:
    """The duration of the video at `path` in milliseconds."""
    with open(path, "rb") as f:
        head = f.read(12)
        f.seek(0)
        try:
            if head[4:8] == b"ftyp":
                value = _mp4_duration_ms(f)
            elif head[:4] == b"\x1a\x45\xdf\xa3":
                value = _webm_duration_ms(f)
            else:
                value = None
        except (struct.error, ValueError, OverflowError):
            value = None
    if not value or value <= 0:
        raise AppError("video_unreadable", UNREADABLE)
    return value


def _mp4_boxes(f: BinaryIO, end: int):
    """Yield (type, payload_start, box_end) for the boxes between here and `end`."""
    while f.tell() + 8 <= end:
        start = f.tell()
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
            header = 16
        elif size == 0:
            size = end - start
        if size < header:
            raise ValueError("bad box size")
        yield kind, start + header, start + size
        f.seek(start + size)


def _mp4_duration_ms(f: BinaryIO) -> int | None:
    f.seek(0, 2)
    file_end = f.tell()
    f.seek(0)
    for kind, payload, box_end in _mp4_boxes(f, file_end):
        if kind != b"moov":
            continue
        f.seek(payload)
        for inner, inner_payload, _ in _mp4_boxes(f, box_end):
            if inner != b"mvhd":
                continue
            f.seek(inner_payload)
            version = f.read(1)[0]
            f.read(3)
            if version == 1:
                _, _, timescale, duration = struct.unpack(">QQIQ", f.read(28))
            else:
                _, _, timescale, duration = struct.unpack(">IIII", f.read(16))
            return round(duration * 1000 / timescale) if timescale else None
    return None


EBML_SEGMENT = 0x18538067
EBML_INFO = 0x1549A966
EBML_TIMECODE_SCALE = 0x2AD7B1
EBML_DURATION = 0x4489


def _vint(f: BinaryIO, *, keep_marker: bool) -> tuple[int, bool]:
    """Read an EBML variable-length integer; returns (value, all_ones)."""
    first = f.read(1)
    if not first:
        raise ValueError("end of file")
    byte = first[0]
    length = 1
    mask = 0x80
    while length <= 8 and not byte & mask:
        mask >>= 1
        length += 1
    if length > 8:
        raise ValueError("bad vint")
    value = byte if keep_marker else byte & (mask - 1)
    rest = f.read(length - 1)
    for b in rest:
        value = (value << 8) | b
    all_ones = not keep_marker and value == (1 << (7 * length)) - 1
    return value, all_ones


def _webm_elements(f: BinaryIO, end: int):
    while f.tell() < end:
        element_id, _ = _vint(f, keep_marker=True)
        size, unknown = _vint(f, keep_marker=False)
        start = f.tell()
        yield element_id, start, end if unknown else start + size
        if not unknown:
            f.seek(start + size)


def _webm_duration_ms(f: BinaryIO) -> int | None:
    f.seek(0, 2)
    file_end = f.tell()
    f.seek(0)
    for element_id, start, end in _webm_elements(f, file_end):
        if element_id != EBML_SEGMENT:
            continue
        f.seek(start)
        for child, child_start, child_end in _webm_elements(f, end):
            if child != EBML_INFO:
                continue
            scale, duration = 1_000_000, None
            f.seek(child_start)
            for item, item_start, item_end in _webm_elements(f, child_end):
                f.seek(item_start)
                data = f.read(item_end - item_start)
                if item == EBML_TIMECODE_SCALE:
                    scale = int.from_bytes(data, "big")
                elif item == EBML_DURATION:
                    duration = struct.unpack(">f" if len(data) == 4 else ">d", data)[0]
                f.seek(item_end)
            return round(duration * scale / 1_000_000) if duration else None
        return None
    return None


def mimetype_for(path: str | Path) -> str:
    """The Content-Type of a supported video file."""
    suffix = Path(path).suffix.lower()
    if suffix not in MIMETYPES:
        raise AppError("video_type", UNREADABLE)
    return MIMETYPES[suffix]

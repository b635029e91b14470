"""Video durations read from the container: MP4 (mvhd) and WebM (Segment Info)."""

from __future__ import annotations

import struct

import pytest

from app.errors import AppError
from app.learning import media
from app.learning.demo import COURSES, DEMO_MEDIA


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    return box(b"mvhd", bytes([version, 0, 0, 0]) + times + bytes(80))


def ebml(element_id: int, payload: bytes, *, unknown_size: bool = False) -> bytes:
    ident = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown_size else bytes([0x80 | len(payload)])
    return ident + size + payload


FTYP = box(b"ftyp", b"isom" + bytes(4))


def test_duration__demo_videos_are_read_from_their_files():
    for course in COURSES:
        for video in course.videos:
            assert media.duration_ms(DEMO_MEDIA / video.file) == video.seconds * 1000


def test_duration__mp4_with_moov_after_a_large_mdat(tmp_path):
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 100) + bytes(100)
    path = tmp_path / "late.mp4"
    path.write_bytes(FTYP + mdat + box(b"moov", mvhd(90000, 90000 * 754 // 10)))

    assert media.duration_ms(path) == 75400


def test_duration__mp4_version_1_header(tmp_path):
    path = tmp_path / "v1.mp4"
    path.write_bytes(FTYP + box(b"moov", box(b"trak", b"") + mvhd(1000, 3_600_123, version=1)))

    assert media.duration_ms(path) == 3_600_123


def test_duration__webm_segment_info(tmp_path):
    info = ebml(
        0x1549A966,
        ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")) + ebml(0x4489, struct.pack(">d", 6042.0)),
    )
    path = tmp_path / "clip.webm"
    path.write_bytes(
        ebml(0x1A45DFA3, b"\x42\x82\x84webm")
        + ebml(0x18538067, ebml(0x114D9B74, b"") + info, unknown_size=True)
    )

    assert media.duration_ms(path) == 6042


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"GIF89a not a video at all",
        FTYP,  # no moov
        FTYP + box(b"moov", mvhd(0, 100)),  # no timescale
        FTYP + b"\x00\x00\x00\x04moov",  # impossible box size
        ebml(0x1A45DFA3, b"") + ebml(0x18538067, ebml(0x1549A966, b"")),  # no duration
    ],
)
def test_duration__unreadable_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)

    with pytest.raises(AppError) as refused:
        media.duration_ms(path)

    assert refused.value.code == "video_unreadable" and "MP4" in refused.value.message


def test_mimetype__by_extension():
    assert media.mimetype_for("a/b.MP4") == "video/mp4"
    assert media.mimetype_for("b.webm") == "video/webm"
    with pytest.raises(AppError):
        media.mimetype_for("c.avi")

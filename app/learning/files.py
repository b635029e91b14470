"""Stream a file with aiofiles, honouring a single HTTP Range (video seeking needs it)."""

from __future__ import annotations

import email.utils
import os
import re
import urllib.parse
from pathlib import Path

import aiofiles
from quart import Response, request

CHUNK = 64 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(first, last) inclusive; None for the whole file; False if unsatisfiable."""
    if not header:
        return None
    match = RANGE.match(header.strip())
    if match is None:
        # Several ranges or another unit: answering with the whole file is allowed.
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


async def _read(path: Path, start: int, length: int):
    async with aiofiles.open(path, "rb") as f:
        await f.seek(start)
        while length > 0:
            chunk = await f.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk


async def stream_file(
    path: Path, *, mimetype: str, download_name: str | None = None, private: bool = True
) -> Response:
    """A 200 or 206 streaming response for `path` (404 handling is the caller's)."""
    stat = os.stat(path)
    size = stat.st_size
    etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
        "Cache-Control": "private, max-age=3600" if private else "public, max-age=3600",
    }
    if download_name:
        quoted = urllib.parse.quote(download_name)
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quoted}"
    if_range = request.headers.get("If-Range")
    wanted = _parse_range(request.headers.get("Range"), size)
    if if_range and if_range != etag:
        wanted = None
    if wanted is False:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(b"", status=416, headers=headers, mimetype=mimetype)
    if request.method == "GET" and request.headers.get("If-None-Match") == etag and not wanted:
        return Response(b"", status=304, headers=headers)
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = wanted, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1 if size else 0
    headers["Content-Length"] = str(length)
    body = _read(path, start, length) if request.method != "HEAD" else b""
    response = Response(body, status=status, headers=headers, mimetype=mimetype)
    return response

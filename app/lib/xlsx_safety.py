"""What is checked of an uploaded .xlsx before openpyxl parses anything: the zip directory
(total size, each part's compression ratio, number of parts, encryption) and every XML part
(no DOCTYPE or ENTITY, read only up to the root element), and the refusals they give."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Collection
from typing import TYPE_CHECKING, BinaryIO
from xml.parsers import expat

from app.errors import AppError

if TYPE_CHECKING:
    from app.lib.spreadsheet import Limits

RATIO_FLOOR = 1024 * 1024
CHUNK = 64 * 1024


def size_text(count: int) -> str:
    return f"{count // 1024 // 1024} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"


def bad_format(formats: Collection[str]) -> AppError:
    wanted = "Excel 2007 及以上版本的 .xlsx 文件" + ("或 .csv 文件" if "csv" in formats else "")
    return AppError(
        "file_format",
        f"无法读取该文件：请上传 {wanted}（.xls 文件请先在 Excel 中“另存为” .xlsx）",
    )


def encrypted() -> AppError:
    return AppError(
        "file_encrypted", "文件设置了打开密码，无法读取：请在 Excel 中取消密码后重新上传"
    )


def unsafe(what: str) -> AppError:
    return AppError(
        "file_unsafe",
        f"文件{what}，为安全起见不予读取：请在 Excel 中“另存为”新的 .xlsx 文件后重新上传",
    )


# What zipfile and zlib raise for broken or unsupported archives.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def check_archive(archive: zipfile.ZipFile, limits: Limits) -> None:
    """Sizes from the zip directory (zipfile never inflates a part past its stated size)."""
    parts = archive.infolist()
    if len(parts) > limits.max_parts:
        raise unsafe(f"包含 {len(parts)} 个部件（过多）")
    if any(info.flag_bits & 0x1 for info in parts):
        raise encrypted()
    if sum(info.file_size for info in parts) > limits.max_unzipped_bytes:
        raise AppError(
            "file_too_big",
            f"文件解压后超过 {size_text(limits.max_unzipped_bytes)}，"
            "请删除多余的工作表、图片或拆分后导入",
        )
    for info in parts:
        if info.file_size > RATIO_FLOOR and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise unsafe("的压缩比异常（疑似“压缩炸弹”）")


# How XML can start: a byte-order mark or "<" (after spaces) in UTF-8 or UTF-16. UTF-32
# and EBCDIC, which some XML parsers also detect, never occur in a real workbook.
XML_STARTS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"<", b"\x00<")
ODD_XML_STARTS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\x00<", b"<\x00\x00\x00")
EBCDIC_XML = b"\x4c\x6f\xa7\x94"


class Done(Exception):
    """Raised by a parser handler once it has seen what it needed."""


def refuse_dtd(*_args: object) -> None:
    raise unsafe("含有 DOCTYPE/ENTITY 声明（可被用于 XML 外部实体或“十亿笑声”攻击）")


def xml_parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def feed(parser: expat.XMLParserType, part: BinaryIO, first: bytes = b"") -> None:
    """Feed a part to the parser until it ends or a handler raises Done."""
    chunk = first or part.read(CHUNK)
    try:
        while chunk:
            parser.Parse(chunk, False)
            chunk = part.read(CHUNK)
        parser.Parse(b"", True)
    except Done:
        pass
    except expat.ExpatError:
        raise zipfile.BadZipFile("malformed XML") from None


def check_xml_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse a DOCTYPE in any part that an XML parser could read (it can only come before
    the root element, so reading stops there)."""
    with archive.open(info) as part:
        head = part.read(CHUNK)
        if head.startswith(ODD_XML_STARTS) or head.startswith(EBCDIC_XML):
            raise zipfile.BadZipFile("unsupported XML encoding")
        if not head.lstrip(b" \t\r\n").startswith(XML_STARTS):
            return  # pictures, printer settings: no XML parser reads them

        def root(*_args: object) -> None:
            raise Done

        parser = xml_parser()
        parser.StartElementHandler = root
        feed(parser, part, head)

import csv
import datetime as dt
import io
import time
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from app.errors import AppError
from app.lib import spreadsheet
from app.lib import workbook as writer
from app.lib.spreadsheet import Limits, read_rows
from app.lib.workbook import Sheet
from tests.spreadsheets import HOSTILE, ID_NUMBER, far_row, wide, with_part, workbook


def texts(data, name="表.xlsx", **kwargs):
    return [(row.number, row.cells) for row in read_rows(data, file_name=name, **kwargs)]


def refusal(data, name="表.xlsx", **kwargs) -> AppError:
    with pytest.raises(AppError) as error:
        read_rows(data, file_name=name, **kwargs)
    return error.value


def test_read__xlsx_rows_are_trimmed_text_with_excel_row_numbers():
    data = workbook([["身份证号", " 姓名 "], [], [ID_NUMBER, "张三\u3000"], [None, None]])
    assert texts(data) == [(1, ("身份证号", "姓名")), (3, (ID_NUMBER, "张三"))]


def test_read__id_numbers_and_leading_zeros_stay_text():
    rows = read_rows(workbook([[ID_NUMBER, "000123", "11010519800101001X"]]))
    assert rows[0].cells == (ID_NUMBER, "000123", "11010519800101001X")
    assert rows[0].lossy == frozenset()


def test_read__a_long_number_is_marked_as_having_lost_digits():
    rows = read_rows(workbook([["张三", 1.10105198001010e17, 12345]]))
    assert rows[0].cells == ("张三", "110105198001010000", "12345")
    assert rows[0].lossy == {1}


def test_read__numbers_and_dates_read_as_typed():
    book = Workbook()
    sheet = book.active
    sheet.append([3.0, 0.1, 0.1 + 0.2, 1e-7, -2.5, True])
    sheet.append([dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 1, 8, 30), dt.date(2026, 3, 2)])
    sheet.append([0.5, dt.time(9, 15)])
    sheet["A3"].number_format = "0%"
    out = io.BytesIO()
    book.save(out)
    assert texts(out.getvalue()) == [
        (1, ("3", "0.1", "0.3", "0.0000001", "-2.5", "TRUE")),
        (2, ("2026-03-01", "2026-03-01 08:30", "2026-03-02")),
        (3, ("50%", "09:15")),
    ]


def test_read__csv_in_utf8_with_and_without_bom_and_in_gbk():
    text = f"身份证号,姓名\n{ID_NUMBER},张三\n,\n110105198001010027, 李四 \n"
    expected = [
        (1, ("身份证号", "姓名")),
        (2, (ID_NUMBER, "张三")),
        (4, (ID_NUMBER[:-2] + "27", "李四")),
    ]
    for encoded in (text.encode("utf-8-sig"), text.encode(), text.encode("gbk")):
        assert texts(encoded, "名单.csv") == expected


def test_read__csv_quoted_fields_and_line_breaks():
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["题干", "解析"], ["第一行\n第二行", 'a "b", c']])
    assert texts(buffer.getvalue().encode(), "题.csv")[1] == (2, ("第一行\n第二行", 'a "b", c'))


def test_read__csv_refused_when_xlsx_only():
    error = refusal("身份证号,姓名\n".encode(), "名单.csv", formats=("xlsx",))
    assert (
        error.code == "file_format"
        and "请上传 Excel 2007 及以上版本的 .xlsx 文件（" in error.message
    )


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.xlsx", "上传的文件是空的"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "a.xlsx", "无法读取该文件"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500,
            "a.xls",
            ".xls 文件请先在 Excel 中“另存为”",
        ),
        (b"PK\x03\x04broken", "a.xlsx", "无法读取该文件"),
        (b"hello", "a.txt", "或 .csv 文件"),
        ("a,b\n".encode("utf-16"), "a.csv", "UTF-16"),
        (b"\x81\x30\xff\xff\xfe", "a.csv", "编码无法识别"),
        (b'a,"b\n', "a.csv", "引号"),
        (b",\n ,\n", "a.csv", "文件中没有数据"),
    ],
)
def test_read__what_is_not_a_readable_spreadsheet_is_refused(data, name, message):
    error = refusal(data, name)
    assert message in error.message and error.status == 400


def test_read__zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert "无法读取该文件" in refusal(out.getvalue()).message


def test_read__workbook_without_data_is_empty():
    assert refusal(workbook([])).message == "文件中没有数据：第一个工作表是空的"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_read__hostile_file_is_refused_at_once_with_a_chinese_message(name):
    build, message = HOSTILE[name]
    data = build()
    started = time.perf_counter()
    error = refusal(data)
    assert time.perf_counter() - started < 1.0
    assert message in error.message and error.status == 400


def test_read__the_20_million_row_file_is_small():
    assert len(far_row()) < 8 * 1024


def test_read__rows_and_columns_just_inside_the_limits_are_read():
    limits = Limits(max_rows=5, max_columns=3)
    rows = [[f"r{n}", "b", "c"] for n in range(5 + spreadsheet.HEADER_ROWS)]
    assert len(read_rows(workbook(rows), limits=limits)) == 15
    assert refusal(workbook([*rows, ["x"]]), limits=limits).code == "file_too_many_rows"
    assert refusal(workbook([["a", "b", "c", "d"]]), limits=limits).code == "file_too_many_columns"


def test_read__undeclared_rows_past_the_limit_are_refused():
    error = refusal(far_row(30_000, dimension="A1"))
    assert error.code == "file_too_many_rows" and "工作表有 30000 行" in error.message


def test_read__columns_counted_without_cell_references():
    assert read_rows(wide(50))[0].cells[-1] == "49"
    assert refusal(wide(51)).code == "file_too_many_columns"


def test_read__csv_rows_and_columns_are_bounded():
    limits = Limits(max_rows=3, max_columns=2)
    many = ("a,b\n" * (3 + spreadsheet.HEADER_ROWS + 1)).encode()
    assert refusal(many, "a.csv", limits=limits).code == "file_too_many_rows"
    assert refusal(b"a,b,c\n", "a.csv", limits=limits).code == "file_too_many_columns"
    assert texts(b"a,b,,,,\n", "a.csv", limits=limits) == [(1, ("a", "b"))]


def test_read__size_limits_on_the_file_and_on_its_unzipped_parts():
    data = workbook([["x"]])
    assert "的上限" in refusal(data, limits=Limits(max_bytes=1000)).message
    assert "文件解压后超过 1 KB" in refusal(data, limits=Limits(max_unzipped_bytes=1024)).message


def test_read__too_many_parts_are_refused():
    data = workbook([["x"]])
    for n in range(20):
        data = with_part(data, f"customXml/item{n}.xml", b"<a/>")
    assert refusal(data, limits=Limits(max_parts=20)).code == "file_unsafe"


def test_read__zip_encrypted_parts_are_refused():
    data = bytearray(workbook([["x"]]))
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x01  # the "encrypted" flag of the first part
    assert refusal(bytes(data)).code == "file_encrypted"


def test_read__malformed_xml_is_refused_as_unreadable():
    data = with_part(workbook([["x"]]), "xl/worksheets/sheet1.xml", b"<worksheet><oops")
    assert refusal(data).code == "file_format"


def test_read_file__missing_file_says_so(tmp_path):
    with pytest.raises(AppError, match="找不到文件"):
        spreadsheet.read_file(tmp_path / "nope.xlsx")


def test_read_file__reads_no_more_than_the_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a" * 5000)
    assert len(spreadsheet.read_file(path, Limits(max_bytes=1000))) == 1001


def test_find_header__first_row_naming_the_anchor_fields_with_notes_and_spaces():
    aliases = {"id": {"身份证号"}, "name": {"姓名"}}
    rows = read_rows(
        workbook([["学员名单"], ["姓 名*", "身份证号（必填）", "备注"], ["张三", "1"]])
    )
    assert spreadsheet.find_header(rows, aliases, anchor=("id",)) == (1, ["name", "id", None])
    assert spreadsheet.find_header(rows, aliases, anchor=("other",)) is None


def reopen(data: bytes):
    return load_workbook(io.BytesIO(data))


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","y")', "+1+2", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "=1+1"],
)
def test_write__formula_looking_text_comes_back_as_text(text):
    data = writer.xlsx_bytes([Sheet("表", header=["姓名"], rows=[[text]])])
    cell = reopen(data).active["A2"]
    assert cell.data_type == "s" and cell.value == text and cell.quotePrefix


def test_write__values_keep_their_types_and_text_columns_are_text():
    rows = [[2, ID_NUMBER, 1.5, dt.date(2026, 3, 1), None, "普通\x0b文字"]]
    data = writer.xlsx_bytes(
        [
            Sheet(
                "错误行", header=["行", "身份证号", "x", "d", "e", "f"], rows=rows, text_columns={1}
            )
        ]
    )
    sheet = reopen(data).active
    assert [c.value for c in sheet[2]][:4] == [2, ID_NUMBER, 1.5, dt.datetime(2026, 3, 1)]
    assert sheet["B2"].number_format == "@" and sheet["B2"].data_type == "s"
    assert sheet.column_dimensions["B"].number_format == "@"
    assert sheet["F2"].value == "普通文字"  # a control character Excel cannot hold is dropped
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b


def test_write__streams_a_generator_to_a_path_and_a_file_object(tmp_path):
    def rows():
        for n in range(3):
            yield [n, f"第{n}行"]

    writer.write_xlsx(tmp_path / "a.xlsx", [Sheet("甲", rows=rows()), Sheet("乙")])
    book = load_workbook(tmp_path / "a.xlsx")
    assert book.sheetnames == ["甲", "乙"]
    assert [r for r in book["甲"].iter_rows(values_only=True)] == [
        (0, "第0行"),
        (1, "第1行"),
        (2, "第2行"),
    ]
    buffer = io.BytesIO()
    writer.write_xlsx(buffer, [Sheet("丙", rows=[["x"]])])
    assert reopen(buffer.getvalue())["丙"]["A1"].value == "x"


def test_write_then_read__user_text_survives_the_round_trip():
    values = [ID_NUMBER, "=1+1", "-5", "  空格  "]
    data = writer.xlsx_bytes([Sheet("表", rows=[values])])
    assert read_rows(data)[0].cells == (ID_NUMBER, "=1+1", "-5", "空格")

"""What an import did: the counts and the refused rows with their reasons."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class RowError:
    row: int
    reason: str
    values: dict[str, str]


@dataclasses.dataclass
class ImportReport:
    """What an import did: counts and the rows that were refused, with reasons."""

    file_name: str = ""
    rows: int = 0
    created: int = 0
    enrolled: int = 0
    already_enrolled: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the audit log."""
        name = f"《{self.file_name}》" if self.file_name else ""
        return (
            f"导入文件{name}：共 {self.rows} 行，新建账号 {self.created} 个，"
            f"报名 {self.enrolled} 人次，已报名 {self.already_enrolled} 行，"
            f"错误 {len(self.errors)} 行"
        )

    def error_lines(self) -> list[str]:
        """One line per refused row, for the CLI."""
        return [
            f"第{e.row}行 {e.values.get('id_number') or '（无身份证号）'} "
            f"{e.values.get('name') or '（无姓名）'}：{e.reason}"
            for e in self.errors
        ]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        fields = dict(data)
        errors = [RowError(**e) for e in fields.pop("errors", [])]
        return cls(**fields, errors=errors)

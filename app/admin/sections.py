"""The admin sub-navigation, shown on every admin page of every area."""

from __future__ import annotations

from quart import current_app, url_for

# (label, endpoint, what it is for). An entry shows once its endpoint exists, so other
# areas add their admin pages here with one line.
SECTIONS = [
    ("概览", "admin.index", ""),
    (
        "学员管理",
        "admin.learners",
        "按身份证号、姓名、工作单位查找学员；重置照片、手机号、初始密码，启用或停用账号，调整角色。",
    ),
    ("导入学员", "admin.import_form", "从 Excel 名单批量建立账号并报名批次，逐行报告错误原因。"),
    ("证书管理", "certificates.admin_list", "证书生成失败重试与撤销。"),
    (
        "注册规则",
        "registration_admin.rules_list",
        "初始注册期限、注册有效期、延续注册申请期、继续教育学时与年龄上限；按版本保存并启用。",
    ),
    (
        "资格信息",
        "registration_admin.qualifications_list",
        "从 Excel 导入考试合格人员的资格信息，逐行报告错误。",
    ),
    (
        "注册机构",
        "registration_admin.authorities_list",
        "省级、部委、中央企业注册机构及其注册初审人员。",
    ),
    ("注册人员", "registration_admin.registrations_list", "已发放的注册编号与有效期；注销注册。"),
    ("操作日志", "admin.audit_log", "每一次管理操作：时间、操作人、对象、内容和 IP。"),
]


def visible() -> list[tuple[str, str, str]]:
    """(label, address, what it is for) of each admin page this app serves."""
    endpoints = current_app.view_functions
    return [(label, url_for(ep), about) for label, ep, about in SECTIONS if ep in endpoints]

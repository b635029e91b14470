"""The administration side menu, shared by every area that has admin pages (endpoint
names only, so that no area needs to import another's routes to draw it)."""

from __future__ import annotations

from quart import current_app, url_for

# The admin side menu: (label, endpoint, what it is for). An entry shows once its
# endpoint exists, so other areas add their admin pages here with one line.
SECTIONS = [
    ("概览", "admin.index", ""),
    (
        "批次管理",
        "admin.batches",
        "建立培训批次：学时要求、学习天数、截止时间、考试时间和考试规则；报名学员、导学资料。",
    ),
    (
        "课程管理",
        "admin.courses",
        "课程、主讲人、公共课/专业课、必修、下架与重新上架；上传视频；在多个批次复用课程。",
    ),
    (
        "题库管理",
        "admin.banks",
        "导入试题（Excel/CSV），按题型和章节浏览、预览、修改、停用；每题的正确率。",
    ),
    (
        "学员管理",
        "admin.learners",
        "按完整身份证号、姓名、工作单位查找学员；学员档案；重置照片、手机号、初始密码，解锁账号，转批次。",
    ),
    ("导入学员", "admin.import_form", "从 Excel 名单批量建立账号并报名批次，逐行报告错误原因。"),
    (
        "统计报表",
        "admin.reports",
        "学习进度、考试成绩、试题难度，图表展示，导出 Excel 和合格人员名册。",
    ),
    ("证书管理", "admin.certificates", "证书生成失败重试与撤销。"),
    ("考场管理", "admin.exam_sessions", "按批次安排考场（场次）与考生，指派监考员。"),
    (
        "注册规则",
        "admin.rules_list",
        "初始注册期限、注册有效期、延续注册申请期、继续教育学时与年龄上限；按版本保存并启用。",
    ),
    (
        "资格信息",
        "admin.qualifications_list",
        "从 Excel 导入考试合格人员的资格信息，逐行报告错误。",
    ),
    (
        "注册机构",
        "admin.authorities_list",
        "省级、部委、中央企业注册机构及其注册初审人员。",
    ),
    ("注册人员", "admin.registrations_list", "已发放的注册编号与有效期；注销注册。"),
    (
        "操作日志",
        "admin.audit_log",
        "每一次管理操作：时间、操作人、对象、修改前后的值和 IP；可导出。",
    ),
]


def visible() -> list[tuple[str, str, str]]:
    """(label, address, what it is for) of each admin page this app serves."""
    endpoints = current_app.view_functions
    return [(label, url_for(ep), about) for label, ep, about in SECTIONS if ep in endpoints]

"""The audit actions of 考场管理 and of invigilators and their Chinese labels;
``app.load_areas`` declares them in every process."""

ACTIONS = {
    "exam_session.create": "新建考场",
    "exam_session.delete": "删除考场",
    "exam_session.assign": "指派监考员",
    "exam_session.unassign": "取消监考员",
    "invigilation.message": "监考消息",
    "invigilation.extend": "监考延长时间",
    "invigilation.force_submit": "监考强制交卷",
    "invigilation.void": "监考作废",
}

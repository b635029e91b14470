"""The audit actions of administration (learner accounts, imports, exports) and their
Chinese labels; ``app.load_areas`` declares them in every process."""

ACTIONS = {
    "learner.create": "新建学员",
    "learner.import": "导入学员",
    "learner.import_row": "导入报名",
    "learner.photo_reset": "重置照片",
    "learner.phone_set": "更改手机号",
    "learner.phone_clear": "清除手机号",
    "learner.password_reissue": "重发初始密码",
    "learner.activate": "启用账号",
    "learner.deactivate": "停用账号",
    "learner.roles": "修改角色",
    "learner.unlock": "解锁账号",
    "report.export": "导出报表",
}

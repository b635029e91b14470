"""The audit actions of question banks and exam policies and their Chinese labels;
``app.load_areas`` declares them in every process."""

ACTIONS = {
    "bank.create": "新建题库",
    "bank.import": "导入试题",
    "question.update": "修改试题",
    "question.activate": "启用试题",
    "question.deactivate": "停用试题",
    "question.delete": "删除试题",
    "policy.update": "设置考试规则",
}

"""The audit actions of 注册管理 (applications, reviews, the registry, rules, authorities,
qualification records, registration accounts) and their Chinese labels; ``app.load_areas``
declares them in every process."""

ACTIONS = {
    "registration.submit": "上报注册申请",
    "registration.withdraw": "撤销注册申请",
    "registration.first_approve": "注册初审通过",
    "registration.first_return": "注册初审退回",
    "registration.final_approve": "注册终审通过",
    "registration.final_reject": "注册终审不予注册",
    "registration.cancel": "注销注册",
    "registration.rules_version": "新增注册规则版本",
    "registration.rules_select": "启用注册规则",
    "registration.authority_add": "新增注册机构",
    "registration.authority_active": "启用/停用注册机构",
    "registration.reviewer_add": "指派注册初审人员",
    "registration.reviewer_remove": "取消注册初审人员",
    "registration.qualifications_import": "导入资格信息",
    "account.password_setup": "设置密码（资格验证）",
    "account.password_reset": "重置密码（邮件链接）",
}

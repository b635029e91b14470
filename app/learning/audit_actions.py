"""The audit actions of batches, enrolments, courses, videos and materials and their
Chinese labels; ``app.load_areas`` declares them in every process."""

ACTIONS = {
    "batch.create": "新建批次",
    "batch.update": "修改批次",
    "batch.close": "结束批次",
    "batch.reopen": "重新开放批次",
    "enrolment.add": "报名批次",
    "enrolment.move": "转批次",
    "course.create": "新建课程",
    "course.update": "修改课程",
    "course.withdraw": "下架课程",
    "course.relist": "重新上架课程",
    "course.delete": "删除课程",
    "course.copy": "复用课程到其他批次",
    "course.move": "调整课程顺序",
    "video.add": "上传视频",
    "video.replace": "替换视频",
    "video.update": "修改视频",
    "video.delete": "删除视频",
    "material.add": "上传导学资料",
    "material.replace": "替换导学资料",
    "material.delete": "删除导学资料",
    "learner.attention_exempt": "免除防挂机验证",
    "learner.attention_restore": "恢复防挂机验证",
}

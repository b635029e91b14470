"""注册渠道 (registration channels): the kinds of registration authority an applicant
chooses between (guide §2(3)), with their labels."""

CHANNELS = {"province": "省级", "ministry": "部委", "central": "中央企业"}

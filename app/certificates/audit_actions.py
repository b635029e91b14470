"""The audit actions of 证书管理 and their Chinese labels; ``app.load_areas`` declares
them in every process."""

ACTIONS = {
    "certificate.retry": "重新生成证书",
    "certificate.revoke": "撤销证书",
}

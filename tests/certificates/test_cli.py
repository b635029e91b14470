"""`python -m app retry-certificates`, as an operator runs it, in a real subprocess."""

import os
import subprocess
import sys

from app.certificates import issuing
from app.certificates.models import CertificateState
from workers.certificates import issue_certificate


async def test_cli__retry_certificates_requeues_failed_and_missing(svc, certs, config):
    user, failed = await certs.passed()
    (svc.config.photo_dir / user.photo_file).write_bytes(b"broken")
    assert await issue_certificate({"svc": svc, "job_try": 5}, failed.id) == "failed"
    _, missing = await certs.passed()  # its job was never queued
    env = dict(
        os.environ,
        SAFECE_DATA_DIR=str(config.data_dir),
        SAFECE_DATABASE_URL=config.database_url,
        SAFECE_REDIS_URL=config.redis_url,
    )
    result = subprocess.run(
        [sys.executable, "-m", "app", "retry-certificates"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "生成失败的证书 1 张" in result.stdout and "未生成或中断的证书 1 张" in result.stdout
    assert (await certs.certificate(failed.id)).state == CertificateState.QUEUED
    assert await svc.redis.keys(f"arq:job:{issuing.job_id(failed.id)}:*")
    assert await svc.redis.exists(f"arq:job:{issuing.job_id(missing.id)}")

"""The figures /metrics reads from the shared stores at each scrape: they belong to no
process, so they are not added up across processes (app/lib/metrics.py) but read once by
whichever process answers. Each read that fails is left out, and ``safece_up`` says which
store did not answer."""

from __future__ import annotations

import contextlib
import time

from arq.constants import default_queue_name

from app.certificates import issuing
from app.certificates import service as certificates
from app.core import liveness
from app.lib import metrics

# The arq queues: the main one (exam sweeper, SMS, imports, exports) and the certificates'.
QUEUES = {"main": default_queue_name, "certificates": issuing.QUEUE}


async def scrape(svc) -> list:
    """The metric families read now from the database and Redis."""
    families = []
    up = {"database": 0.0, "redis": 0.0}
    with contextlib.suppress(Exception):
        async with svc.db.read() as db:
            states = await certificates.count_by_state(session=db)
        up["database"] = 1.0
        families.append(
            metrics.gauge("safece_certificates", "Certificates by state", "state", states)
        )
    with contextlib.suppress(Exception):
        began = time.perf_counter()
        await svc.redis.ping()
        rtt = time.perf_counter() - began
        up["redis"] = 1.0
        families.append(
            metrics.gauge(
                "safece_redis_ping_seconds",
                "A Redis PING from the process answering this scrape",
                "",
                {"": rtt},
            )
        )
        depths = {}
        for name, key in QUEUES.items():
            depths[name] = float(await svc.redis.zcard(key))
        families.append(
            metrics.gauge("safece_queue_jobs", "Jobs waiting in each arq queue", "queue", depths)
        )
        alive = await liveness.alive(svc.redis)
        families.append(
            metrics.gauge(
                "safece_processes_alive",
                "Server and worker processes whose heartbeat is fresh (all machines)",
                "kind",
                {kind: float(len(alive.get(kind, []))) for kind in ("server", "worker")},
            )
        )
    families.append(metrics.gauge("safece_up", "Whether each store answered", "store", up))
    return families

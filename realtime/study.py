"""Namespace /study: play sessions and heartbeats over Socket.IO (see docs/realtime.md).

Events from the page: ``start {video_id}``, ``beat {token, seq, position, reason, to?,
rate?}``, ``answer {token, nonce, code}`` (an attention check), ``stop {token}``; each is
acknowledged with ``{"ok": true, ...}`` or
``{"ok": false, "code", "message"}``. The server emits ``ended {token, code, message}``
to a page whose session another tab or device took over.
"""

from __future__ import annotations

from app.learning import answers, playback, study
from app.services import Services
from realtime.auth import SessionNamespace, replies_errors
from realtime.sessions import SessionWatch


class StudyNamespace(SessionNamespace):
    ROLES = ("learner",)

    def __init__(self, svc: Services, watch: SessionWatch) -> None:
        super().__init__(study.NAMESPACE, svc, watch)
        self.rules = study.StudyRules.from_config(svc.config)

    async def on_connect(self, sid: str, environ: dict, auth: object = None) -> None:
        await self.admit(sid, environ)

    async def _user_id(self, sid: str) -> int:
        return (await self.get_session(sid))["user_id"]

    @replies_errors
    async def on_start(self, sid: str, data: object = None) -> dict:
        body = data if isinstance(data, dict) else {}
        return await playback.start_reply(
            self.svc,
            rules=self.rules,
            user_id=await self._user_id(sid),
            video_id=body.get("video_id"),
            sid=sid,
        )

    @replies_errors
    async def on_beat(self, sid: str, data: object = None) -> dict:
        session = await self.get_session(sid)
        return await study.beat_reply(
            db=self.svc.db,
            redis=self.svc.redis,
            rules=self.rules,
            user_id=session["user_id"],
            body=data,
            now=self.svc.now(),
            sid=sid,
            # This socket's copy of its play session: a beat then costs one Redis round trip.
            cache=session.setdefault("plays", {}),
        )

    @replies_errors
    async def on_answer(self, sid: str, data: object = None) -> dict:
        session = await self.get_session(sid)
        # The answer changes the session: this socket's copy of it is stale from now on.
        session.setdefault("plays", {}).clear()
        return await answers.answer_reply(
            db=self.svc.db,
            redis=self.svc.redis,
            rules=self.rules,
            user_id=session["user_id"],
            body=data,
            now=self.svc.now(),
        )

    @replies_errors
    async def on_stop(self, sid: str, data: object = None) -> dict:
        body = data if isinstance(data, dict) else {}
        await study.stop(
            redis=self.svc.redis, user_id=await self._user_id(sid), token=body.get("token")
        )
        return {"ok": True}

"""我的资料: the profile page, phone binding and the ID photo."""

from __future__ import annotations

from quart import Blueprint, jsonify, render_template, request

from app.accounts import auth, idcard
from app.accounts import service as accounts
from app.lib.http import body_limit, json_body, text_field
from app.profile import service
from app.profile.photos import send_photo
from app.services import services

bp = Blueprint("profile", __name__)


@bp.app_context_processor
def _photo_spec() -> dict[str, object]:
    """The ID photo's size and limit, for the photo tool wherever a page shows it
    (templates/profile/_photo.html: 我的资料 and a registration application's 个人基本信息)."""
    config = services().config
    return {
        "photo_spec": {
            "width": config.photo_width,
            "height": config.photo_height,
            "limit_kb": config.photo_max_bytes // 1024,
        }
    }


@bp.get("/profile")
@auth.login_required
async def index():
    """Show name, gender, ID (the owner sees it whole), work unit, phone and photo."""
    user = auth.current_user()
    config = services().config
    return await render_template(
        "profile/index.html",
        user=user,
        id_display=user.id_number,
        id_masked=idcard.mask(user.id_number),
        resend_seconds=config.sms_resend_seconds,
    )


@bp.post("/api/profile/phone/code")
@auth.login_required
async def phone_code():
    """Send an SMS code to the phone to be bound."""
    svc = services()
    body = await json_body()
    async with svc.db.write() as db:
        user = await accounts.get(session=db, user_id=auth.current_user().id)
        wait = await service.request_phone_code(
            session=db,
            redis=svc.redis,
            enqueue=svc.enqueue,
            config=svc.config,
            now=svc.now(),
            user=user,
            phone=text_field(body, "phone"),
        )
    return jsonify({"ok": True, "resend_after": wait, "message": "验证码已发送，请查收短信"})


@bp.post("/api/profile/phone/bind")
@auth.login_required
async def phone_bind():
    """Bind the phone with the code from the SMS."""
    svc = services()
    body = await json_body()
    async with svc.db.write() as db:
        user = await accounts.get(session=db, user_id=auth.current_user().id)
        await service.bind_phone(
            session=db,
            redis=svc.redis,
            config=svc.config,
            now=svc.now(),
            user=user,
            phone=text_field(body, "phone"),
            code=text_field(body, "code"),
        )
    return jsonify({"ok": True, "phone": user.phone, "message": "手机号绑定成功"})


# The form around a photo of up to 500 KB; a larger body is refused before it is read.
PHOTO_BODY_LIMIT = 600 * 1024


@bp.post("/api/profile/photo")
@auth.login_required
@body_limit(PHOTO_BODY_LIMIT, "照片大小约为 {size}，须小于 500 KB")
async def photo_upload():
    """Accept the one-time ID photo (the page crops it to size first)."""
    svc = services()
    limit = svc.config.photo_max_bytes
    files = await request.files
    upload = files.get("photo")
    data = upload.read(limit * 4) if upload else b""
    async with svc.db.write() as db:
        user = await accounts.get(session=db, user_id=auth.current_user().id)
        await service.upload_photo(
            session=db, config=svc.config, now=svc.now(), user=user, data=data
        )
    return jsonify({"ok": True, "message": "照片上传成功"})


@bp.get("/profile/photo")
@auth.login_required
async def photo():
    """The owner's own photo."""
    return await send_photo(auth.current_user())

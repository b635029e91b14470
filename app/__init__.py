"""SafeCE: the Quart application factory."""

from __future__ import annotations

from quart import Quart

from app.config import ROOT, Config
from app.lib import http, logs
from app.services import Services, build_services


def load_areas() -> None:
    """Import every area's event handlers, so that each registers itself (app.events), and
    declare every area's audit actions, so that each process labels every entry."""
    from app.accounts import events as account_events  # noqa: F401
    from app.admin import audit_actions as admin_actions
    from app.audit import service as audit
    from app.certificates import audit_actions as certificate_actions
    from app.certificates import events as certificate_events  # noqa: F401
    from app.exams import audit_actions as exam_actions
    from app.exams import events as exam_events  # noqa: F401
    from app.invigilation import audit_actions as invigilation_actions
    from app.invigilation import events as invigilation_events  # noqa: F401
    from app.learning import audit_actions as learning_actions
    from app.registration import audit_actions as registration_actions
    from app.registration import events as registration_events  # noqa: F401

    for area in (
        admin_actions,
        certificate_actions,
        exam_actions,
        invigilation_actions,
        learning_actions,
        registration_actions,
    ):
        audit.declare(area.ACTIONS)


def start_services(config: Config) -> Services:
    """The per-process container, with every area's event handlers loaded: the web app,
    the worker and the CLI all start from here."""
    load_areas()
    return build_services(config)


def create_app(config: Config | None = None) -> Quart:
    """Build the web app for a configuration (read from the environment by default)."""
    config = config or Config.from_env()
    app = Quart(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config["TEMPLATES_AUTO_RELOAD"] = False
    # Before any route is added: ids in URLs stay within what the database holds, and JSON
    # bodies read absurd integers as infinities that every check refuses (app/lib/http.py).
    app.url_map.converters["int"] = http.IdConverter
    app.json = http.JSONProvider(app)
    app.extensions["safece"] = services = start_services(config)
    logs.configure(config.log_format, "server")

    from app import web
    from app.accounts.routes import bp as accounts_bp
    from app.admin.routes import bp as admin_bp
    from app.certificates.routes import bp as certificates_bp
    from app.core.routes import bp as core_bp
    from app.exams.routes import bp as exams_bp
    from app.invigilation.routes import bp as invigilation_bp
    from app.learning.routes import bp as learning_bp
    from app.profile.routes import bp as profile_bp
    from app.registration.routes import blueprints as registration_blueprints

    web.install(app)
    for blueprint in (core_bp, accounts_bp, profile_bp, admin_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(exams_bp)
    app.register_blueprint(learning_bp)
    app.register_blueprint(certificates_bp)
    for blueprint in registration_blueprints:
        app.register_blueprint(blueprint)
    app.register_blueprint(invigilation_bp)
    # Last: the largest body any route accepts (routes declare theirs with @body_limit).
    web.cap_body_size(app)

    @app.before_serving
    async def _close_last() -> None:
        # Registered as serving starts, so after every after_serving the parts of the app
        # registered when it was built (app.asgi: the sockets, the study flusher, metrics):
        # the services close once nothing that uses them is still stopping.
        if services.close not in app.after_serving_funcs:
            app.after_serving(services.close)

    return app

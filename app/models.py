"""Import every model module so that the metadata (and Alembic) sees all tables."""

from app.accounts import models as accounts_models  # noqa: F401
from app.audit import models as audit_models  # noqa: F401
from app.certificates import models as certificates_models  # noqa: F401
from app.exams import models as exams_models  # noqa: F401
from app.invigilation import models as invigilation_models  # noqa: F401
from app.learning import models as learning_models  # noqa: F401
from app.registration import models as registration_models  # noqa: F401

"""submitted registration forms keep the ID number encrypted at rest, like the accounts'

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:00:00

The ID number of each submitted form moves out of the form's JSON (``reg_submissions.form``)
into ``reg_submissions.id_number_enc``, sealed with the deployment's current key
(SAFECE_DATA_KEY, SAFECE_DATA_KEY_FILE or the embedded data.key), never a key from the
database; ``python -m app rotate-key`` reseals it with the rest.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.config import Config
from app.lib import crypto

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reg_submissions"


def _keys() -> crypto.Keys:
    return crypto.load(Config.from_env())


def _dump(form: dict) -> str:
    return json.dumps(form, ensure_ascii=False, sort_keys=True)


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.add_column(sa.Column("id_number_enc", sa.String(120), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, form FROM {TABLE}")).all()
    if rows:
        keys = _keys()
        for row_id, text in rows:
            form = json.loads(text)
            number = str(form.pop("id_number", ""))
            conn.execute(
                sa.text(f"UPDATE {TABLE} SET form = :f, id_number_enc = :e WHERE id = :r"),
                {"f": _dump(form), "e": crypto.seal(number, keys), "r": row_id},
            )
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.alter_column("id_number_enc", existing_type=sa.String(120), nullable=False)


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, form, id_number_enc FROM {TABLE}")).all()
    if rows:
        keys = _keys()
        for row_id, text, sealed in rows:
            form = json.loads(text)
            form["id_number"] = crypto.reveal(sealed, keys)
            conn.execute(
                sa.text(f"UPDATE {TABLE} SET form = :f WHERE id = :r"),
                {"f": _dump(form), "r": row_id},
            )
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.drop_column("id_number_enc")

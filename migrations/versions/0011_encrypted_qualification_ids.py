"""资格信息 ID numbers encrypted at rest too (AES-GCM, HMAC blind index), as the accounts' are

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.config import Config
from app.lib import crypto

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reg_qualifications"


def _keys() -> crypto.Keys:
    return crypto.load(Config.from_env())


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.add_column(sa.Column("id_number_enc", sa.String(120), nullable=True))
        batch_op.add_column(sa.Column("id_number_index", sa.String(64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, id_number FROM {TABLE}")).all()
    if rows:
        keys = _keys()
        for row_id, number in rows:
            conn.execute(
                sa.text(
                    f"UPDATE {TABLE} SET id_number_enc = :e, id_number_index = :i WHERE id = :r"
                ),
                {
                    "e": crypto.seal(number, keys),
                    "i": crypto.blind_index(number.strip().replace(" ", "").upper(), keys),
                    "r": row_id,
                },
            )
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.drop_index("ix_reg_qualifications_id_number")
        batch_op.drop_column("id_number")
        batch_op.alter_column("id_number_enc", existing_type=sa.String(120), nullable=False)
        batch_op.alter_column("id_number_index", existing_type=sa.String(64), nullable=False)
        batch_op.create_index("ix_reg_qualifications_id_number_index", ["id_number_index"])


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.add_column(sa.Column("id_number", sa.String(18), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, id_number_enc FROM {TABLE}")).all()
    if rows:
        keys = _keys()
        for row_id, sealed in rows:
            conn.execute(
                sa.text(f"UPDATE {TABLE} SET id_number = :n WHERE id = :r"),
                {"n": crypto.reveal(sealed, keys), "r": row_id},
            )
    with op.batch_alter_table(TABLE) as batch_op:
        batch_op.drop_index("ix_reg_qualifications_id_number_index")
        batch_op.drop_column("id_number_index")
        batch_op.drop_column("id_number_enc")
        batch_op.alter_column("id_number", existing_type=sa.String(18), nullable=False)
        batch_op.create_index("ix_reg_qualifications_id_number", ["id_number"])

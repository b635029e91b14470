"""ID numbers encrypted at rest (AES-GCM) with an HMAC blind index for look-ups

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 20:05:00

The keys come from the deployment's configuration (SAFECE_DATA_KEY, SAFECE_DATA_KEY_FILE,
or the embedded data.key, made here if missing), never from the database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.config import Config
from app.lib import crypto

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys() -> crypto.Keys:
    return crypto.load(Config.from_env())


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("id_number_enc", sa.String(120), nullable=True))
        batch_op.add_column(sa.Column("id_number_index", sa.String(64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, id_number FROM users")).all()
    if rows:
        keys = _keys()
        for user_id, number in rows:
            conn.execute(
                sa.text("UPDATE users SET id_number_enc = :e, id_number_index = :i WHERE id = :u"),
                {
                    "e": crypto.seal(number, keys),
                    "i": crypto.blind_index(number, keys),
                    "u": user_id,
                },
            )
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint("uq_users_id_type", type_="unique")
        batch_op.drop_index("ix_users_id_number")
        batch_op.drop_column("id_number")
        batch_op.alter_column("id_number_enc", existing_type=sa.String(120), nullable=False)
        batch_op.alter_column("id_number_index", existing_type=sa.String(64), nullable=False)
        batch_op.create_unique_constraint("uq_users_id_type", ["id_type", "id_number_index"])
        batch_op.create_index("ix_users_id_number_index", ["id_number_index"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("id_number", sa.String(18), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, id_number_enc FROM users")).all()
    if rows:
        keys = _keys()
        for user_id, sealed in rows:
            conn.execute(
                sa.text("UPDATE users SET id_number = :n WHERE id = :u"),
                {"n": crypto.reveal(sealed, keys), "u": user_id},
            )
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint("uq_users_id_type", type_="unique")
        batch_op.drop_index("ix_users_id_number_index")
        batch_op.drop_column("id_number_index")
        batch_op.drop_column("id_number_enc")
        batch_op.alter_column("id_number", existing_type=sa.String(18), nullable=False)
        batch_op.create_unique_constraint("uq_users_id_type", ["id_type", "id_number"])
        batch_op.create_index("ix_users_id_number", ["id_number"], unique=False)

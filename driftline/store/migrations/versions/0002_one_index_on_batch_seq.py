"""`batches.seq` had two indexes, a plain one and the unique one: keep the unique one.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("batches")}
    if "ix_batches_seq" in indexes:
        op.drop_index("ix_batches_seq", table_name="batches")


def downgrade() -> None:
    op.create_index("ix_batches_seq", "batches", ["seq"])

"""API keys that read replenishment suggestions keep doing so: they get `replenishment.view`.

Reviewed by hand, a data migration only. Suggestions used to be read with `orders.view`; they now
need a scope of their own, so an ERP could be given orders but not replenishment. Keys created
before that, which read suggestions with `orders.view`, are given `replenishment.view` here so
that no integration breaks on deploy. Session tokens (kind 'session') carry no scopes and are
left alone. Downgrade leaves the scopes as they are: the keys given the scope here cannot be told
apart from keys given it since.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    tokens = sa.table(
        'api_tokens', sa.column('id', sa.Integer), sa.column('kind', sa.String), sa.column('scopes', sa.JSON)
    )
    rows = connection.execute(sa.select(tokens.c.id, tokens.c.scopes).where(tokens.c.kind == 'api_key')).all()
    for token_id, scopes in rows:
        if isinstance(scopes, str):  # some drivers hand JSON back as text
            scopes = json.loads(scopes)
        scopes = list(scopes or [])
        if 'orders.view' in scopes and 'replenishment.view' not in scopes:
            connection.execute(
                sa.update(tokens).where(tokens.c.id == token_id).values(scopes=[*scopes, 'replenishment.view'])
            )


def downgrade():
    pass

"""reputation: daily roll-ups per domain (and per region / sending IP); events by arrival

`ix_reputation_events_received` lets the roll-up job find the (domain, day) pairs that got
events since its last run without scanning the whole event table. The events' workspace
foreign key goes: the domain's already ties each row to its workspace (and cascades), and
checking both per row cost a fifth of an ingested batch's insert time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:28:35.877324

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reputation_stats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scope', sa.Enum('all', 'region', 'ip', name='reputation_stat_scope', native_enum=False, length=16), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('bounced', sa.Integer(), nullable=False),
    sa.Column('hard_bounced', sa.Integer(), nullable=False),
    sa.Column('soft_bounced', sa.Integer(), nullable=False),
    sa.Column('deferred', sa.Integer(), nullable=False),
    sa.Column('complained', sa.Integer(), nullable=False),
    sa.Column('opened', sa.Integer(), nullable=False),
    sa.Column('clicked', sa.Integer(), nullable=False),
    sa.Column('unsubscribed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_reputation_stats_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_reputation_stats_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reputation_stats'))
    )
    with op.batch_alter_table('reputation_stats', schema=None) as batch_op:
        batch_op.create_index('ix_reputation_stats_domain_scope_day', ['domain_id', 'scope', 'day'], unique=False)
        batch_op.create_index(batch_op.f('ix_reputation_stats_workspace_id'), ['workspace_id'], unique=False)

    with op.batch_alter_table('reputation_events', schema=None) as batch_op:
        batch_op.create_index('ix_reputation_events_received', ['received_at'], unique=False)
        batch_op.drop_constraint('fk_reputation_events_workspace_id_workspaces', type_='foreignkey')



def downgrade():
    with op.batch_alter_table('reputation_events', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_reputation_events_workspace_id_workspaces', 'workspaces',
                                    ['workspace_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_index('ix_reputation_events_received')

    with op.batch_alter_table('reputation_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reputation_stats_workspace_id'))
        batch_op.drop_index('ix_reputation_stats_domain_scope_day')

    op.drop_table('reputation_stats')

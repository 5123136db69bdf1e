"""tracking: hosts with their certificates, ACME accounts, tracked links; reputation events

Certificate private keys and ACME account keys live in the key store: only their
references are columns here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 22:26:17.949564

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('acme_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('directory_url', sa.String(length=500), nullable=False),
    sa.Column('key_ref', sa.String(length=200), nullable=False),
    sa.Column('uri', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_acme_accounts')),
    sa.UniqueConstraint('directory_url', name=op.f('uq_acme_accounts_directory_url'))
    )
    op.create_table('reputation_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('delivered', 'bounced', 'deferred', 'complained', 'opened', 'clicked', 'unsubscribed', name='reputation_event_type', native_enum=False, length=16), nullable=False),
    sa.Column('account', sa.String(length=320), nullable=True),
    sa.Column('region', sa.String(length=32), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('bounce_class', sa.String(length=32), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_reputation_events_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_reputation_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reputation_events')),
    sa.UniqueConstraint('workspace_id', 'event_id', name=op.f('uq_reputation_events_workspace_id'))
    )
    with op.batch_alter_table('reputation_events', schema=None) as batch_op:
        batch_op.create_index('ix_reputation_events_domain_occurred', ['domain_id', 'occurred_at'], unique=False)

    op.create_table('tracked_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('account', sa.String(length=320), nullable=True),
    sa.Column('hostname', sa.String(length=253), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_tracked_messages_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tracked_messages_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracked_messages')),
    sa.UniqueConstraint('domain_id', 'message_id', name=op.f('uq_tracked_messages_domain_id'))
    )
    with op.batch_alter_table('tracked_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracked_messages_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('tracking_hosts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('hostname', sa.String(length=253), nullable=False),
    sa.Column('status', sa.Enum('pending', 'issuing', 'active', 'expiring', 'failed', name='tracking_host_status', native_enum=False, length=16), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('error_fix', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('certificate_chain', sa.Text(), nullable=True),
    sa.Column('private_key_ref', sa.String(length=200), nullable=True),
    sa.Column('certificate_serial', sa.String(length=64), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expiry_alerted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_tracking_hosts_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tracking_hosts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_hosts')),
    sa.UniqueConstraint('hostname', name=op.f('uq_tracking_hosts_hostname'))
    )
    with op.batch_alter_table('tracking_hosts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracking_hosts_domain_id'), ['domain_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracking_hosts_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracking_hosts_not_after'), ['not_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracking_hosts_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('tracked_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('tracked_message_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('url_digest', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tracked_message_id'], ['tracked_messages.id'], name=op.f('fk_tracked_links_tracked_message_id_tracked_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tracked_links_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracked_links')),
    sa.UniqueConstraint('tracked_message_id', 'url_digest', name=op.f('uq_tracked_links_tracked_message_id'))
    )
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracked_links_workspace_id'), ['workspace_id'], unique=False)



def downgrade():
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracked_links_workspace_id'))

    op.drop_table('tracked_links')
    with op.batch_alter_table('tracking_hosts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracking_hosts_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_tracking_hosts_not_after'))
        batch_op.drop_index(batch_op.f('ix_tracking_hosts_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_tracking_hosts_domain_id'))

    op.drop_table('tracking_hosts')
    with op.batch_alter_table('tracked_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracked_messages_workspace_id'))

    op.drop_table('tracked_messages')
    with op.batch_alter_table('reputation_events', schema=None) as batch_op:
        batch_op.drop_index('ix_reputation_events_domain_occurred')

    op.drop_table('reputation_events')
    op.drop_table('acme_accounts')

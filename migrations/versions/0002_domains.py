"""domains, dkim keys, dns snapshots, email accounts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:18:21.997517

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('fqdn', sa.String(length=253), nullable=False),
    sa.Column('status', sa.Enum('pending', 'verifying', 'verified', 'failed', 'suspended', name='domain_status', native_enum=False, length=16), nullable=False),
    sa.Column('verification_token', sa.String(length=64), nullable=False),
    sa.Column('dmarc_policy', sa.String(length=16), nullable=False),
    sa.Column('return_path_label', sa.String(length=63), nullable=True),
    sa.Column('tracking_label', sa.String(length=63), nullable=True),
    sa.Column('setup_step', sa.Integer(), nullable=False),
    sa.Column('dkim_rotation_days', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verification_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['domains.id'], name=op.f('fk_domains_parent_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_domains_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('workspace_id', 'fqdn', name=op.f('uq_domains_workspace_id'))
    )
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.create_index('ix_domains_fqdn_status', ['fqdn', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_domains_next_check_at'), ['next_check_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_domains_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_domains_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('dkim_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('selector', sa.String(length=63), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=True),
    sa.Column('state', sa.Enum('generating', 'pending', 'active', 'retiring', 'retired', name='dkim_key_state', native_enum=False, length=16), nullable=False),
    sa.Column('public_key', sa.String(length=1400), nullable=True),
    sa.Column('private_key_ref', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retiring_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retire_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_dkim_keys_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_dkim_keys_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dkim_keys')),
    sa.UniqueConstraint('domain_id', 'selector', name=op.f('uq_dkim_keys_domain_id'))
    )
    with op.batch_alter_table('dkim_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dkim_keys_domain_id'), ['domain_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dkim_keys_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('dns_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_dns_snapshots_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_dns_snapshots_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_snapshots'))
    )
    with op.batch_alter_table('dns_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_dns_snapshots_domain_checked', ['domain_id', 'checked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dns_snapshots_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('email_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('local_part', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('daily_limit', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_email_accounts_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_email_accounts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_accounts')),
    sa.UniqueConstraint('domain_id', 'local_part', name=op.f('uq_email_accounts_domain_id'))
    )
    with op.batch_alter_table('email_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_accounts_domain_id'), ['domain_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_accounts_workspace_id'), ['workspace_id'], unique=False)



def downgrade():
    with op.batch_alter_table('email_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_accounts_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_email_accounts_domain_id'))

    op.drop_table('email_accounts')
    with op.batch_alter_table('dns_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dns_snapshots_workspace_id'))
        batch_op.drop_index('ix_dns_snapshots_domain_checked')

    op.drop_table('dns_snapshots')
    with op.batch_alter_table('dkim_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dkim_keys_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_dkim_keys_domain_id'))

    op.drop_table('dkim_keys')
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domains_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_domains_parent_id'))
        batch_op.drop_index(batch_op.f('ix_domains_next_check_at'))
        batch_op.drop_index('ix_domains_fqdn_status')

    op.drop_table('domains')

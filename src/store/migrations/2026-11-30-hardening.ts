import type { Kysely } from 'kysely';

// Frozen in time: this module never imports application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Consecutive wrong passwords per user, counted like the passcode failures beside them.
  await db.schema
    .alterTable('users')
    .addColumn('password_failed_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('users').addColumn('password_last_failed_at', 'bigint').execute();

  // Failed authentications per source address and fixed time window (when Redis is not used).
  await db.schema
    .createTable('source_failures')
    .addColumn('source', 'varchar(64)', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('source_failures_pk', ['source', 'window_start'])
    .execute();
  await db.schema
    .createIndex('source_failures_window_idx')
    .on('source_failures')
    .column('window_start')
    .execute();

  // Repeated events of one kind from one source in one minute share a row and count up.
  await db.schema
    .alterTable('security_events')
    .addColumn('count', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('security_events').addColumn('aggregate_key', 'varchar(255)').execute();
  await db.schema
    .createIndex('security_events_aggregate_idx')
    .on('security_events')
    .column('aggregate_key')
    .unique()
    .execute();
  await db.schema
    .createIndex('security_events_type_idx')
    .on('security_events')
    .columns(['type', 'at'])
    .execute();

  // Which SMS budget a message was sent under: administrators' temporary codes have their own.
  await db.schema
    .alterTable('sms_sends')
    .addColumn('budget', 'varchar(16)', (c) => c.notNull().defaultTo('default'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sms_sends').dropColumn('budget').execute();
  await db.schema.dropIndex('security_events_type_idx').execute();
  await db.schema.dropIndex('security_events_aggregate_idx').execute();
  await db.schema.alterTable('security_events').dropColumn('aggregate_key').execute();
  await db.schema.alterTable('security_events').dropColumn('count').execute();
  await db.schema.dropTable('source_failures').execute();
  await db.schema.alterTable('users').dropColumn('password_last_failed_at').execute();
  await db.schema.alterTable('users').dropColumn('password_failed_count').execute();
}

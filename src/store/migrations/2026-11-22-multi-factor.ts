import type { Kysely } from 'kysely';
import { autoId } from './2026-11-22-core.js';

// Frozen in time: this module never imports application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  const [idType, idColumn] = autoId(db);
  await db.schema
    .createTable('mfa_sessions')
    .addColumn('hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('factor', 'varchar(16)', (c) => c.notNull())
    .addColumn('authenticated_by', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('consumed_at', 'bigint')
    .execute();
  await db.schema.createIndex('mfa_sessions_expires_idx').on('mfa_sessions').column('expires_at').execute();

  await db.schema
    .createTable('otp_devices')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_used_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('otp_devices_user_idx').on('otp_devices').column('user_id').execute();

  await db.schema
    .createTable('mobile_phones')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(32)', (c) =>
      c.notNull().unique().references('users.id').onDelete('cascade'),
    )
    .addColumn('number', 'varchar(32)', (c) => c.notNull())
    .addColumn('verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pin_hash', 'varchar(64)')
    .addColumn('pin_expires_at', 'bigint')
    .addColumn('pin_failed_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('one_time_codes')
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'varchar(16)', (c) => c.notNull())
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('one_time_codes_pk', ['user_id', 'purpose'])
    .execute();

  await db.schema
    .createTable('bypass_codes')
    .addColumn('id', idType, idColumn)
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('bypass_codes_user_idx')
    .on('bypass_codes')
    .columns(['user_id', 'code_hash'])
    .execute();

  await db.schema
    .createTable('sms_sends')
    .addColumn('id', idType, idColumn)
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull())
    .addColumn('destination', 'varchar(32)', (c) => c.notNull())
    .addColumn('sent_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sms_sends_destination_idx')
    .on('sms_sends')
    .columns(['destination', 'sent_at'])
    .execute();
  await db.schema.createIndex('sms_sends_user_idx').on('sms_sends').columns(['user_id', 'sent_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'sms_sends',
    'bypass_codes',
    'one_time_codes',
    'mobile_phones',
    'otp_devices',
    'mfa_sessions',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}

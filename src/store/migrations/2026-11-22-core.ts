import type { ColumnDefinitionBuilder, Kysely } from 'kysely';
import { PostgresAdapter, sql } from 'kysely';

// Frozen in time: this module never imports application code.

/** An auto-incrementing integer key in either dialect. */
export function autoId(
  db: Kysely<unknown>,
): [ReturnType<typeof sql>, (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder] {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? [sql`bigserial`, (c) => c.primaryKey()]
    : [sql`integer`, (c) => c.primaryKey().autoIncrement()];
}

export async function up(db: Kysely<unknown>): Promise<void> {
  const [idType, idColumn] = autoId(db);
  await db.schema
    .createTable('domains')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('mfa_enforcement', 'varchar(16)', (c) => c.notNull().defaultTo('OPTIONAL'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('username', 'varchar(255)', (c) => c.notNull())
    .addColumn('username_key', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('email', 'varchar(255)')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('role', 'varchar(64)', (c) => c.notNull())
    .addColumn('domain_id', 'varchar(32)', (c) => c.references('domains.id'))
    .addColumn('default_region', 'varchar(64)', (c) => c.notNull().defaultTo(''))
    .addColumn('password_hash', 'text')
    .addColumn('api_key_enc', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('mfa_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('factor_type', 'varchar(8)')
    .addColumn('mfa_enforcement', 'varchar(16)')
    .addColumn('mfa_failed_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('mfa_last_failed_at', 'bigint')
    .execute();
  await db.schema.createIndex('users_domain_idx').on('users').column('domain_id').execute();
  await db.schema.createIndex('users_email_idx').on('users').column('email').execute();

  await db.schema
    .createTable('tokens')
    .addColumn('hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('authenticated_by', 'varchar(64)', (c) => c.notNull())
    .addColumn('scope', 'varchar(32)')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('tokens_user_idx').on('tokens').column('user_id').execute();
  await db.schema.createIndex('tokens_expires_idx').on('tokens').column('expires_at').execute();

  await db.schema
    .createTable('security_events')
    .addColumn('id', idType, idColumn)
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('type', 'varchar(64)', (c) => c.notNull())
    .addColumn('actor_id', 'varchar(32)')
    .addColumn('user_id', 'varchar(32)')
    .addColumn('domain_id', 'varchar(32)')
    .addColumn('source', 'varchar(128)')
    .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('security_events_at_idx').on('security_events').column('at').execute();
  await db.schema
    .createIndex('security_events_user_idx')
    .on('security_events')
    .columns(['user_id', 'at'])
    .execute();
  await db.schema
    .createIndex('security_events_domain_idx')
    .on('security_events')
    .columns(['domain_id', 'at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['security_events', 'tokens', 'users', 'domains']) {
    await db.schema.dropTable(table).execute();
  }
}

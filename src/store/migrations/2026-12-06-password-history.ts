import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen in time: this module never imports application code.

/**
 * The hashes of users' earlier passwords, for LATCHKEY_PASSWORD_HISTORY (Keystone's
 * `unique_last_password_count`): the current password stays in users.password_hash, the ones
 * before it here (the newest with the highest id); they go with their user.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Ordered by id: several changes can fall within one millisecond.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema
    .createTable('password_history')
    .addColumn('id', postgres ? sql`bigserial` : sql`integer`, (c) =>
      postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('replaced_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('password_history_user_idx')
    .on('password_history')
    .columns(['user_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('password_history').execute();
}

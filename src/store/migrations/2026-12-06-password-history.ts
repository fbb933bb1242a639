import type { Kysely } from 'kysely';

// Frozen in time: this module never imports application code.

/**
 * The hashes of users' earlier passwords, for LATCHKEY_PASSWORD_HISTORY (Keystone's
 * `unique_last_password_count`): the current password stays in users.password_hash, the ones
 * before it here, newest last; they go with their user.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('password_history')
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('replaced_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('password_history_user_idx')
    .on('password_history')
    .columns(['user_id', 'replaced_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('password_history').execute();
}

import type { Kysely } from 'kysely';

// Frozen in time: this module never imports application code.

/**
 * Why a token was revoked, so a surface can tell its user why the session ended (the control
 * panel shows the "account now requires multi-factor" message after a policy change).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').addColumn('revoked_reason', 'varchar(64)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').dropColumn('revoked_reason').execute();
}

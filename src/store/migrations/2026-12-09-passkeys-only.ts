import type { Kysely } from 'kysely';

// Frozen in time: this module never imports application code.

/**
 * An account can require passkeys or security keys as the only second factor. Its own column,
 * beside `mfa_enforcement` (which stays REQUIRED for such an account: clients of the v2.0 API
 * know only OPTIONAL and REQUIRED). 0 for every existing account: nothing changes on upgrade.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('domains')
    .addColumn('passkeys_only', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('domains').dropColumn('passkeys_only').execute();
}

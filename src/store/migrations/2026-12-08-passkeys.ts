import type { Kysely } from 'kysely';

// Frozen in time: this module never imports application code.

/**
 * Passkeys and security keys (WebAuthn), a third kind of multi-factor device. A credential's id
 * and public key are public values (base64url), kept as the browser gave them; the user handle
 * the authenticator stores is a random value per user, never the user's id, name or email. A
 * ceremony's challenge is kept only as a keyed hash, until it is answered or expires.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('webauthn_handle', 'varchar(64)').execute();
  await db.schema
    .createIndex('users_webauthn_handle_idx')
    .on('users')
    .column('webauthn_handle')
    .unique()
    .execute();
  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(32)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // A credential id is at most 1023 bytes (WebAuthn §5.1): 1364 characters of base64url.
    .addColumn('credential_id', 'varchar(1400)', (c) => c.notNull().unique())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('sign_count', 'bigint', (c) => c.notNull())
    .addColumn('transports', 'varchar(255)', (c) => c.notNull())
    .addColumn('aaguid', 'varchar(36)', (c) => c.notNull())
    .addColumn('backup_eligible', 'integer', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('nickname', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('passkeys_user_idx')
    .on('passkeys')
    .columns(['user_id', 'created_at'])
    .execute();
  await db.schema
    .createTable('passkey_challenges')
    .addColumn('hash', 'varchar(64)', (c) => c.primaryKey())
    // Null for a sign-in with a passkey alone: who signs is known only from the answer.
    .addColumn('user_id', 'varchar(32)', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'varchar(16)', (c) => c.notNull())
    .addColumn('nickname', 'varchar(64)')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('passkey_challenges_expiry_idx')
    .on('passkey_challenges')
    .column('expires_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('passkey_challenges').execute();
  await db.schema.dropTable('passkeys').execute();
  await db.schema.dropIndex('users_webauthn_handle_idx').execute();
  await db.schema.alterTable('users').dropColumn('webauthn_handle').execute();
}

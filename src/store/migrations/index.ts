import type { Migration, MigrationProvider } from 'kysely/migration';
import * as core from './2026-11-22-core.js';
import * as multiFactor from './2026-11-22-multi-factor.js';
import * as tokenRevokedReason from './2026-11-23-token-revoked-reason.js';
import * as hardening from './2026-11-30-hardening.js';
import * as serverKeys from './2026-12-01-server-keys.js';
import * as passwordHistory from './2026-12-06-password-history.js';
import * as writeNotifications from './2026-12-07-write-notifications.js';
import * as passkeys from './2026-12-08-passkeys.js';
import * as passkeysOnly from './2026-12-09-passkeys-only.js';

/**
 * Listed statically (no directory scan), so a bundled or compiled build finds every migration.
 * A new migration adds, in the same change, its fill in test/fixtures/schema-history.ts: a
 * database at that version filled as that version wrote it, which test/upgrade.test.ts upgrades.
 */
export const migrations: Record<string, Migration> = {
  '2026-11-22-core': core,
  '2026-11-22-multi-factor': multiFactor,
  '2026-11-23-token-revoked-reason': tokenRevokedReason,
  '2026-11-30-hardening': hardening,
  '2026-12-01-server-keys': serverKeys,
  '2026-12-06-password-history': passwordHistory,
  '2026-12-07-write-notifications': writeNotifications,
  '2026-12-08-passkeys': passkeys,
  '2026-12-09-passkeys-only': passkeysOnly,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};

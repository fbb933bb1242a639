import { randomHex } from '../crypto/random.js';
import type { Deps } from '../services/deps.js';
import type { UserRow } from '../store/schema.js';

/**
 * After a successful password check: store the password hashed with the configured parameters
 * when the stored hash used others, so raising the cost reaches every user who logs in. Only
 * the hash that was just verified is replaced: a password changed meanwhile stays as it is.
 * A failure here is logged, never turned into a failed login.
 */
export async function rehashPasswordIfNeeded(
  deps: Pick<Deps, 'db' | 'passwords' | 'log'>,
  user: Pick<UserRow, 'id' | 'password_hash'>,
  password: string,
): Promise<void> {
  const current = user.password_hash;
  if (!current || !deps.passwords.needsRehash(current)) return;
  try {
    const rehashed = await deps.passwords.hash(password);
    await deps.db
      .updateTable('users')
      .set({ password_hash: rehashed })
      .where('id', '=', user.id)
      .where('password_hash', '=', current)
      .execute();
  } catch (error) {
    deps.log.warn({ err: error, userId: user.id }, 'password rehash failed');
  }
}

/** Reference §6.2: at least 8 characters with an upper-case letter, a lower-case letter and a digit. */
export const PASSWORD_POLICY_MESSAGE =
  'Password must be at least 8 characters in length, must contain at least one uppercase letter, one lowercase letter, and one numeric character.';

export function meetsPasswordPolicy(password: string): boolean {
  return password.length >= 8 && /[A-Z]/.test(password) && /[a-z]/.test(password) && /\d/.test(password);
}

/** A password that meets the policy, for users created without one. */
export function generatePassword(): string {
  return `Lk${randomHex(10)}9`;
}

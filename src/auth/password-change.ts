import type { Caller } from '../access/caller.js';
import { authorize } from '../access/caller.js';
import { ApiError } from '../core/errors.js';
import { findUserById, updateUser } from '../identity/users.js';
import { takeSourceFailureSlot } from '../lockout/source-failures.js';
import type { Deps } from '../services/deps.js';
import { judgePassword } from './login.js';

/**
 * The signed-in user proves its password again (before its API key is shown), judged as a login
 * judges it: the password lock, the per-source failure limit, the same failure events. A wrong
 * password answers 401 and counts as a failed login.
 */
export async function confirmOwnPassword(
  deps: Deps,
  caller: Pick<Caller, 'user' | 'scope' | 'source'>,
  password: string,
): Promise<void> {
  authorize(caller, { kind: 'user.change-own-password', userId: caller.user.id });
  const slot = await takeSourceFailureSlot(deps, caller.source);
  try {
    const user = await findUserById(deps.db, caller.user.id);
    await judgePassword(deps, caller.source, user, caller.user.username, password);
  } catch (error) {
    // A wrong password keeps its slot; anything else was no guess.
    if (!(error instanceof ApiError && error.status === 401)) await slot.giveBack();
    throw error;
  }
  await slot.giveBack();
}

/**
 * A user changes its own password, proving the current one (OpenStack Identity v3's
 * `original_password`). The current password is judged as confirmOwnPassword judges it; the
 * change itself is the one every surface makes (updateUser): policy, history, events, and every
 * token of the user revoked.
 */
export async function changeOwnPassword(
  deps: Deps,
  caller: Pick<Caller, 'user' | 'scope' | 'source'>,
  userId: string,
  originalPassword: string,
  newPassword: string,
): Promise<void> {
  authorize(caller, { kind: 'user.change-own-password', userId });
  await confirmOwnPassword(deps, caller, originalPassword);
  await updateUser(deps, caller, caller.user.id, { password: newPassword });
}

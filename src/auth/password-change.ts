import type { Caller } from '../access/caller.js';
import { authorize } from '../access/caller.js';
import { ApiError } from '../core/errors.js';
import { findUserById, updateUser } from '../identity/users.js';
import { takeSourceFailureSlot } from '../lockout/source-failures.js';
import type { Deps } from '../services/deps.js';
import { judgePassword } from './login.js';

/**
 * A user changes its own password, proving the current one (OpenStack Identity v3's
 * `original_password`). The current password is judged as a login judges it (the password lock,
 * the per-source failure limit, the same failure events); the change itself is the one every
 * surface makes (updateUser): policy, history, events, and every token of the user revoked.
 */
export async function changeOwnPassword(
  deps: Deps,
  caller: Pick<Caller, 'user' | 'scope' | 'source'>,
  userId: string,
  originalPassword: string,
  newPassword: string,
): Promise<void> {
  authorize(caller, { kind: 'user.change-own-password', userId });
  const slot = await takeSourceFailureSlot(deps, caller.source);
  try {
    const user = await findUserById(deps.db, caller.user.id);
    await judgePassword(deps, caller.source, user, caller.user.username, originalPassword);
  } catch (error) {
    // A wrong password keeps its slot; anything else was no guess.
    if (!(error instanceof ApiError && error.status === 401)) await slot.giveBack();
    throw error;
  }
  await slot.giveBack();
  await updateUser(deps, caller, caller.user.id, { password: newPassword });
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import { revokeToken } from '../../access/tokens.js';
import {
  changeMultiFactor as changeUserMultiFactor,
  type MultiFactorSettingsInput,
} from '../../factors/settings.js';
import { findUserById } from '../../identity/users.js';
import type { FactorType } from '../../policy/enforcement.js';
import type { Deps } from '../../services/deps.js';
import { endSession, type PanelSession, setFlash } from '../session.js';

/** The multi-factor settings change of the API's PUT .../multi-factor, on one's own user. */
export function changeMultiFactor(
  deps: Deps,
  session: PanelSession,
  input: MultiFactorSettingsInput,
): Promise<void> {
  return changeUserMultiFactor(deps, session, session.user.id, input);
}

export const FACTOR_NAMES: Record<FactorType, string> = {
  OTP: 'authenticator app',
  SMS: 'text message (SMS)',
};

/**
 * A newly verified device becomes the default method (seed 000, step 6): MFA is turned on with
 * this factor (or switched to it), and the user is logged out to log in again with it. Turning
 * MFA on revokes the password-only token behind the session; a switch revokes nothing, so the
 * session's token is revoked here.
 */
export async function makeDefaultAndLogOut(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
  session: PanelSession,
  factor: FactorType,
): Promise<FastifyReply> {
  const user = await findUserById(deps.db, session.user.id);
  const wasOn = user?.mfa_enabled === 1;
  await changeMultiFactor(
    deps,
    session,
    wasOn ? { factorType: factor } : { enabled: true, factorType: factor },
  );
  if (wasOn) await revokeToken(deps, session.token, session, session.user, 'signed out');
  endSession(request, reply);
  setFlash(
    request,
    reply,
    'success',
    `Your device is verified and your ${FACTOR_NAMES[factor]} is now your default authentication method. Log in again with your password and a passcode from it.`,
  );
  return reply.redirect('/sign-in', 303);
}

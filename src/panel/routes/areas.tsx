import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FactorType } from '../../policy/enforcement.js';
import type { Deps } from '../../services/deps.js';
import { Button, RadioGroup } from '../components.js';
import { type Access, endSession, type PanelSession, setFlash } from '../session.js';
import { changeMultiFactor, makeDefaultAndLogOut } from './multi-factor.js';

/**
 * Where a device is set up: the forced setup (a SETUP-MFA session, which must end with MFA on)
 * or the profile (a normal session, where the user chooses whether the device becomes the
 * default). The same pages and domain calls serve both.
 */
export interface Area {
  base: '/setup' | '/profile';
  access: Access;
  /** The page title of the whole flow, shown above each step. */
  flow: string;
  /** Where Cancel and the way back lead, and what the way back says. */
  home: '/setup/method' | '/profile';
  backLabel: string;
}

export const SETUP_AREA: Area = {
  base: '/setup',
  access: 'setup',
  flow: 'Set Up Multi-Factor Authentication',
  home: '/setup/method',
  backLabel: 'Choose another method',
};
export const PROFILE_AREA: Area = {
  base: '/profile',
  access: 'full',
  flow: 'My Profile & Settings',
  home: '/profile',
  backLabel: 'Back to My Profile & Settings',
};

/** The step after a device is verified. */
export async function afterDeviceVerified(
  deps: Deps,
  area: Area,
  request: FastifyRequest,
  reply: FastifyReply,
  session: PanelSession,
  factor: FactorType,
  makeDefault: boolean,
  verifiedText: string,
): Promise<FastifyReply> {
  if (area.access === 'setup') {
    // Turning MFA on revokes the SETUP-MFA token: the session ends here, as it should.
    await changeMultiFactor(deps, session, { enabled: true, factorType: factor });
    endSession(request, reply);
    return reply.redirect('/setup/done', 303);
  }
  if (makeDefault) return makeDefaultAndLogOut(deps, request, reply, session, factor);
  setFlash(request, reply, 'success', verifiedText);
  return reply.redirect('/profile', 303);
}

/** "Choose Your Multi-Factor Authentication Method" (seed 003): a GET form, so it needs no script. */
export function MethodChooser({ area, legendHidden = false }: { area: Area; legendHidden?: boolean }) {
  return (
    <form method="get" action={`${area.base}/method`}>
      <RadioGroup
        name="method"
        legend="Choose Your Multi-Factor Authentication Method"
        value="authenticator"
        legendHidden={legendHidden}
        options={[
          {
            value: 'authenticator',
            label: 'Use an Authenticator',
            hint: 'An app such as Google Authenticator, Microsoft Authenticator or Authy shows a new 6-digit passcode every 30 seconds.',
          },
          {
            value: 'sms',
            label: 'SMS',
            hint: 'A text message with a passcode is sent to your mobile phone each time you log in.',
          },
        ]}
      />
      <Button>Continue</Button>
    </form>
  );
}

/** Where the chooser leads. */
export function methodTarget(area: Area, method: unknown): string {
  return method === 'sms' ? `${area.base}/sms/new` : `${area.base}/authenticator/new`;
}

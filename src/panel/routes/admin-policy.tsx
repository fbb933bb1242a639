import type { FastifyInstance } from 'fastify';
import { refusal } from '../../access/caller.js';
import { ApiError } from '../../core/errors.js';
import {
  type DomainImpact,
  parseDomainLevel,
  setDomainEnforcement,
  usersWithoutPasskey,
} from '../../policy/domain-enforcement.js';
import { type AccountMfaPolicy, accountPolicyOf } from '../../policy/enforcement.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow } from '../../store/schema.js';
import { Banner, Button, Card, ConfirmForm, PostForm, RadioGroup } from '../components.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { setFlash } from '../session.js';
import { AccountLayout, accountPath, levelLabel, TAB_PATHS, withAccount } from './admin-shared.js';

const policyPath = (account: DomainRow): string => accountPath(account.id, TAB_PATHS.policy);

function PolicyPage({
  ctx,
  account,
  refused,
  error,
}: {
  ctx: PageContext;
  account: DomainRow;
  /** Why this user may not change the setting, or null. */
  refused: string | null;
  error?: string | undefined;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="policy" title="Require Multi-Factor">
      <Card title="Account-wide multi-factor authentication" id="account-wide">
        {error ? <Banner tone="error">{error}</Banner> : null}
        <p>
          Now: <strong>{levelLabel(accountPolicyOf(account))}</strong>.
        </p>
        {refused === null ? (
          <PostForm ctx={ctx} action={policyPath(account)}>
            <RadioGroup
              name="level"
              legend="Multi-factor authentication for the users of this account"
              value={accountPolicyOf(account)}
              options={[
                {
                  value: 'PASSKEYS_ONLY',
                  label: 'Required: passkeys or security keys only',
                  hint: 'The strongest choice: a look-alike page cannot relay a passkey. Users log in to the control panel with their password and a passkey or security key; a user without one adds it at the next log in. Those logged in without one are logged out (but for you, in this session). Password logins to the API are refused for these users: automation uses API keys.',
                },
                {
                  value: 'REQUIRED',
                  label: 'Required for all users on this account',
                  hint: 'Users without multi-factor authentication cannot use the account until they set it up. Those logged in without it are logged out, and guided through the setup at their next log in.',
                },
                {
                  value: 'OPTIONAL',
                  label: 'Optional per user',
                  hint: 'Each user chooses whether to use multi-factor authentication.',
                },
              ]}
            />
            <Button>Save Setting</Button>
          </PostForm>
        ) : (
          <Banner tone="info">
            <p>{refused}</p>
            <p>
              <a href="/profile">Go to My Profile & Settings</a>
            </p>
          </Banner>
        )}
      </Card>
    </AccountLayout>
  );
}

function UserNames({ users }: { users: DomainImpact['usersLoggedOut'] }) {
  return (
    <ul class="plain-list name-list">
      {users.map((user) => (
        <li key={user.id} class="wrap">
          {user.username}
        </li>
      ))}
    </ul>
  );
}

/** Who a tighter policy logs out at once: the same card on both confirmations. */
function LoggedOutNow({
  impact,
  without = 'multi-factor authentication',
}: {
  impact: DomainImpact;
  /** What the sessions that end lack. */
  without?: string;
}) {
  return (
    <Card title="Users logged out now" id="logged-out">
      {impact.usersLoggedOut.length === 0 ? (
        <p>No user is logged in without {without} right now: nobody is logged out.</p>
      ) : (
        <>
          <p>These users are logged in without {without}. They are logged out at their next click:</p>
          <UserNames users={impact.usersLoggedOut} />
        </>
      )}
    </Card>
  );
}

/** Before REQUIRED is saved: who it logs out, and who must set MFA up (the domain's dry run). */
function ConfirmRequiredPage({
  ctx,
  account,
  impact,
}: {
  ctx: PageContext;
  account: DomainRow;
  impact: DomainImpact;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="policy" title="Require multi-factor authentication?">
      <LoggedOutNow impact={impact} />
      <Card title="Users who must set it up" id="must-set-up">
        {impact.usersRequiredToSetUp.length === 0 ? (
          <p>Every user already has multi-factor authentication or is exempt from the requirement.</p>
        ) : (
          <>
            <p>These users are guided through setting up multi-factor authentication at their next log in:</p>
            <UserNames users={impact.usersRequiredToSetUp} />
          </>
        )}
        <ConfirmForm
          ctx={ctx}
          action={policyPath(account)}
          confirm="Require Multi-Factor"
          cancel={policyPath(account)}
        >
          <input type="hidden" name="level" value="REQUIRED" />
          <input type="hidden" name="confirmed" value="yes" />
        </ConfirmForm>
      </Card>
    </AccountLayout>
  );
}

/**
 * Before passkeys-only is saved: who it logs out (every session not started with a passkey, but
 * the one saving it), and who has no passkey yet.
 */
function ConfirmPasskeysOnlyPage({
  ctx,
  account,
  impact,
  withoutPasskey,
}: {
  ctx: PageContext;
  account: DomainRow;
  impact: DomainImpact;
  withoutPasskey: DomainImpact['usersLoggedOut'];
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="policy" title="Require passkeys or security keys?">
      <Card title="Users without a passkey" id="without-passkey">
        {withoutPasskey.length === 0 ? (
          <p>Every user this applies to already has a passkey or security key.</p>
        ) : (
          <>
            <p>
              These users have no passkey or security key yet. At their next log in, after their passcode,
              they are taken straight to adding one:
            </p>
            <UserNames users={withoutPasskey} />
          </>
        )}
      </Card>
      <LoggedOutNow impact={impact} without="a passkey or security key" />
      <Card title="Password logins to the API" id="api">
        <p>
          Password logins to the API (v2.0 and /v3) of these users are refused; API keys keep working for
          automation.
        </p>
        <ConfirmForm
          ctx={ctx}
          action={policyPath(account)}
          confirm="Require Passkeys"
          cancel={policyPath(account)}
        >
          <input type="hidden" name="level" value="PASSKEYS_ONLY" />
          <input type="hidden" name="confirmed" value="yes" />
        </ConfirmForm>
      </Card>
    </AccountLayout>
  );
}

function savedText(level: AccountMfaPolicy, impact: DomainImpact): string {
  if (level === 'OPTIONAL') return 'Multi-factor authentication is now optional per user on this account.';
  const out = impact.usersLoggedOut.map((user) => user.username);
  const loggedOut =
    out.length === 0
      ? ''
      : ` ${out.length === 1 ? '1 user was' : `${out.length} users were`} logged out: ${out.join(', ')}.`;
  if (level === 'PASSKEYS_ONLY')
    return `Passkeys or security keys are now required for all users on this account.${loggedOut}`;
  return `Multi-factor authentication is now required for all users on this account.${loggedOut}`;
}

export function registerAdminPolicyRoutes(app: FastifyInstance, deps: Deps): void {
  app.get(
    '/admin/accounts/:domainId/multi-factor',
    withAccount(deps, async (request, reply, { session, account }) =>
      sendPage(
        reply,
        <PolicyPage
          ctx={pageContext(request, reply, session)}
          account={account}
          refused={refusal(session, { kind: 'domain.set-enforcement', domainId: account.id })}
        />,
      ),
    ),
  );

  app.post(
    '/admin/accounts/:domainId/multi-factor',
    withAccount(deps, async (request, reply, { session, account }) => {
      const form = PostedForm.of(request);
      try {
        const chosen = form.text('level', 16);
        const policy: AccountMfaPolicy =
          chosen === 'PASSKEYS_ONLY'
            ? 'PASSKEYS_ONLY'
            : parseDomainLevel({
                'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: chosen },
              });
        const level = policy === 'PASSKEYS_ONLY' ? 'REQUIRED' : policy;
        const passkeysOnly = policy === 'PASSKEYS_ONLY';
        const confirmed = form.text('confirmed', 8) === 'yes';
        if (passkeysOnly && accountPolicyOf(account) !== 'PASSKEYS_ONLY' && !confirmed) {
          const impact = await setDomainEnforcement(deps, session, account.id, level, true, true);
          return sendPage(
            reply,
            <ConfirmPasskeysOnlyPage
              ctx={pageContext(request, reply, session)}
              account={account}
              impact={impact}
              withoutPasskey={await usersWithoutPasskey(deps.db, account.id)}
            />,
          );
        }
        if (level === 'REQUIRED' && account.mfa_enforcement !== 'REQUIRED' && !confirmed) {
          const impact = await setDomainEnforcement(deps, session, account.id, level, true);
          return sendPage(
            reply,
            <ConfirmRequiredPage
              ctx={pageContext(request, reply, session)}
              account={account}
              impact={impact}
            />,
          );
        }
        const impact = await setDomainEnforcement(deps, session, account.id, level, false, passkeysOnly);
        setFlash(request, reply, 'success', savedText(policy, impact));
        return reply.redirect(policyPath(account), 303);
      } catch (error) {
        if (!(error instanceof ApiError) || (error.status !== 400 && error.status !== 403)) throw error;
        return sendPage(
          reply,
          <PolicyPage
            ctx={pageContext(request, reply, session)}
            account={account}
            refused={refusal(session, { kind: 'domain.set-enforcement', domainId: account.id })}
            error={error.status === 400 ? 'Choose one of the three settings.' : error.message}
          />,
          error.status,
        );
      }
    }),
  );
}

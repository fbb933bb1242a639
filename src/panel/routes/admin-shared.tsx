import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ComponentChildren } from 'preact';
import { authorize, may, seesEveryDomain } from '../../access/caller.js';
import { notFound } from '../../core/errors.js';
import { getDomainFor } from '../../identity/domains.js';
import { getVisibleUserFor } from '../../identity/users.js';
import { type Lock, type LockKind, locksOf } from '../../lockout/locks.js';
import type { MultiFactorMethod } from '../../policy/enforcement.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import { Layout } from '../layout.js';
import type { PageContext } from '../render.js';
import { type PanelSession, withSession } from '../session.js';
import { FACTOR_LABELS } from './profile.js';

/** The pages of one account's administration, in the order of its navigation. */
export type AccountTab = 'overview' | 'users' | 'policy' | 'events';

export const accountPath = (domainId: string, rest = ''): string =>
  `/admin/accounts/${encodeURIComponent(domainId)}${rest}`;

export const userPath = (domainId: string, userId: string, rest = ''): string =>
  accountPath(domainId, `/users/${encodeURIComponent(userId)}${rest}`);

/** The account a page is about, once the signed-in user may administer it. */
export interface AccountRequest {
  session: PanelSession;
  account: DomainRow;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A path parameter that names a domain or a user; anything else is no such page. */
export function idParam(request: FastifyRequest, name: string): string {
  const value = (request.params as Record<string, unknown>)[name];
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) throw notFound('There is no such page.');
  return value;
}

/**
 * A page of /admin/accounts/:domainId/...: a full session, allowed to administer that account
 * (access/caller.ts decides), and the account itself (404 when there is none).
 */
export function withAccount(
  deps: Deps,
  handler: (request: FastifyRequest, reply: FastifyReply, page: AccountRequest) => Promise<unknown>,
) {
  return withSession(deps, 'full', async (request, reply, session) => {
    const domainId = idParam(request, 'domainId');
    authorize(session, { kind: 'account.administer', domainId });
    const account = await getDomainFor(deps, session, domainId);
    return handler(request, reply, { session, account });
  });
}

/**
 * Where /admin, /admin/users and /admin/events lead: an administrator chooses the account first;
 * an account manager goes straight to its own.
 */
export function accountEntry(deps: Deps, tab: AccountTab) {
  return withSession(deps, 'full', async (_request, reply, session) => {
    authorize(session, { kind: 'account.administer', domainId: undefined });
    if (seesEveryDomain(session.user) || session.user.domain_id === null)
      return reply.redirect(tab === 'overview' ? '/admin/accounts' : `/admin/accounts?to=${tab}`, 303);
    return reply.redirect(accountPath(session.user.domain_id, TAB_PATHS[tab]), 303);
  });
}

export const TAB_PATHS: Record<AccountTab, string> = {
  overview: '',
  users: '/users',
  policy: '/multi-factor',
  events: '/events',
};

const TAB_LABELS: Record<AccountTab, string> = {
  overview: 'Overview',
  users: 'User List',
  policy: 'Require Multi-Factor',
  events: 'Security Events',
};

function AccountNav({
  ctx,
  account,
  current,
}: {
  ctx: PageContext;
  account: DomainRow;
  current: AccountTab;
}) {
  const tabs = (Object.keys(TAB_LABELS) as AccountTab[]).filter(
    (tab) =>
      tab !== 'events' ||
      (ctx.acting !== undefined && may(ctx.acting, { kind: 'events.read', domainId: account.id })),
  );
  return (
    <nav class="tabs" aria-label="Account administration">
      <ul>
        {tabs.map((tab) => (
          <li key={tab}>
            <a
              class="tab-link"
              href={accountPath(account.id, TAB_PATHS[tab])}
              aria-current={tab === current ? 'page' : undefined}
            >
              {TAB_LABELS[tab]}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** The frame of every account page: which account, the page's heading, the account's navigation. */
export function AccountLayout({
  ctx,
  account,
  tab,
  title,
  children,
}: {
  ctx: PageContext;
  account: DomainRow;
  tab: AccountTab;
  title: string;
  children: ComponentChildren;
}) {
  const chooses = ctx.acting !== undefined && seesEveryDomain(ctx.acting.user);
  return (
    <Layout ctx={ctx} title={`${title} · Account ${account.id}`}>
      <p class="lead account-line">
        User Management · Account <strong>{account.id}</strong>
        {account.name !== account.id ? <> ({account.name})</> : null}
        {chooses ? (
          <>
            {' · '}
            <a href="/admin/accounts">Choose another account</a>
          </>
        ) : null}
      </p>
      <h1 class="page-title">{title}</h1>
      <AccountNav ctx={ctx} account={account} current={tab} />
      {children}
    </Layout>
  );
}

const LEVEL_LABELS: Record<string, string> = {
  REQUIRED: 'Required for all users',
  OPTIONAL: 'Optional per user',
  PASSKEYS_ONLY: 'Required: passkeys or security keys only',
};

/** An account's multi-factor enforcement level, in the words of the Require Multi-Factor form. */
export const levelLabel = (level: string): string => LEVEL_LABELS[level] ?? level;

/** The seeds' user list states: off, on, or LOCKED after too many wrong passcodes. */
export type MfaState = 'off' | 'on' | 'LOCKED';

export function mfaStateOf(deps: Deps, user: UserView): MfaState {
  if (locksOf(deps, user).passcode) return 'LOCKED';
  return user.mfa_enabled === 1 ? 'on' : 'off';
}

export function MfaBadge({ state }: { state: MfaState }) {
  if (state === 'LOCKED') return <span class="badge badge-bad">LOCKED</span>;
  return state === 'on' ? <span class="badge badge-on">On</span> : <span class="badge badge-off">Off</span>;
}

const LOCK_CAUSES: Record<LockKind, string> = {
  password: 'Too many wrong passwords',
  passcode: 'Too many wrong passcodes',
};

/** Why a user cannot log in: a Locked badge, then "Too many wrong passwords, until 2026-12-06 23:15 UTC". */
export function LockNote({ lock }: { lock: Lock }) {
  return (
    <span class="lock-note">
      <span class="badge badge-bad">Locked</span> {LOCK_CAUSES[lock.kind]},{' '}
      {lock.until === null ? (
        'until unlocked'
      ) : (
        <>
          until <Time at={lock.until} />
        </>
      )}
    </span>
  );
}

export function factorLabel(user: UserView): string {
  if (user.mfa_enabled !== 1 || user.factor_type === null) return 'None';
  return FACTOR_LABELS[user.factor_type as MultiFactorMethod] ?? user.factor_type;
}

/** A time as every administrator reads it alike: UTC, to the minute. */
export function formatTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function Time({ at }: { at: number }) {
  return <time dateTime={new Date(at).toISOString()}>{formatTime(at)}</time>;
}

/**
 * The user a record page is about: one the signed-in user may view, of this account. Any other
 * user, of another account included, is no such page (404), so the panel tells no one which
 * users exist elsewhere.
 */
export async function targetOf(
  deps: Deps,
  request: FastifyRequest,
  session: PanelSession,
  account: DomainRow,
): Promise<UserView> {
  const target = await getVisibleUserFor(deps, session, idParam(request, 'userId'));
  if (target.domain_id !== account.id) throw notFound('There is no such user in this account.');
  return target;
}

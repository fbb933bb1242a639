import type { FastifyInstance } from 'fastify';
import { Fragment } from 'preact';
import { authorize, may } from '../../access/caller.js';
import { countUsersWithPasskey } from '../../factors/passkeys/passkeys.js';
import { type AccountSummary, listAccountsFor } from '../../identity/domains.js';
import { listAccountUsersFor } from '../../identity/users.js';
import { locksOf } from '../../lockout/locks.js';
import { accountPolicyOf } from '../../policy/enforcement.js';
import { failedSignInsByHour, type HourlyCount } from '../../reports/aggregates.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import { Button, ButtonLink, Card, TextField } from '../components.js';
import { Layout } from '../layout.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { withSession } from '../session.js';
import { FailedSignInChart } from './admin-chart.js';
import {
  AccountLayout,
  type AccountTab,
  accountEntry,
  accountPath,
  LockNote,
  levelLabel,
  TAB_PATHS,
  userPath,
  withAccount,
} from './admin-shared.js';
import { FACTOR_LABELS } from './profile.js';

function tabOf(value: unknown): AccountTab {
  return value === 'users' || value === 'policy' || value === 'events' ? value : 'overview';
}

function ChooseAccountPage({
  ctx,
  accounts,
  search,
  tab,
}: {
  ctx: PageContext;
  accounts: AccountSummary[];
  search: string;
  tab: AccountTab;
}) {
  return (
    <Layout ctx={ctx} title="Choose an account">
      <p class="lead">User Management</p>
      <h1 class="page-title">Choose an account</h1>
      <Card>
        <form method="get" action="/admin/accounts" class="search-form">
          {tab === 'overview' ? null : <input type="hidden" name="to" value={tab} />}
          <TextField
            name="q"
            type="search"
            label="Account number or name"
            value={search}
            maxLength={100}
            spellcheck={false}
          />
          <Button kind="secondary">Find Account</Button>
        </form>
        {accounts.length === 0 ? (
          <p class="empty">No account matches.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Multi-factor</th>
                  <th scope="col">Users</th>
                </tr>
              </thead>
              <tbody>
                {accounts.map((account) => (
                  <tr key={account.id}>
                    {/* An account's name once, with its number only where the two differ. */}
                    <td class="wrap">
                      <a href={accountPath(account.id, TAB_PATHS[tab])}>{account.name}</a>
                      {account.name !== account.id ? <span class="hint"> · {account.id}</span> : null}
                    </td>
                    <td>{levelLabel(account.mfaEnforcement)}</td>
                    <td>{account.users}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </Layout>
  );
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`;
}

function AdoptionCard({ users, withPasskey }: { users: UserView[]; withPasskey: number }) {
  const on = users.filter((user) => user.mfa_enabled === 1);
  const byFactor = (['OTP', 'SMS'] as const).map((factor) => ({
    factor,
    count: on.filter((user) => user.factor_type === factor).length,
  }));
  return (
    <Card title="Multi-factor adoption" id="adoption">
      <p class="figure">
        <strong>{on.length}</strong> of <strong>{users.length}</strong> users have multi-factor authentication
        on ({percent(on.length, users.length)}).
      </p>
      <dl class="details">
        {byFactor.map(({ factor, count }) => (
          <Fragment key={factor}>
            <dt>{FACTOR_LABELS[factor]}</dt>
            <dd>
              {count} {count === 1 ? 'user' : 'users'}
            </dd>
          </Fragment>
        ))}
        <dt>Off</dt>
        <dd>
          {users.length - on.length} {users.length - on.length === 1 ? 'user' : 'users'}
        </dd>
      </dl>
      <p id="passkey-adoption">
        <strong>{withPasskey}</strong> of <strong>{users.length}</strong> users have a passkey or security key
        ({percent(withPasskey, users.length)}).
      </p>
    </Card>
  );
}

function OverviewPage({
  ctx,
  deps,
  account,
  users,
  withPasskey,
  failed,
}: {
  ctx: PageContext;
  deps: Deps;
  account: DomainRow;
  users: UserView[];
  withPasskey: number;
  failed: HourlyCount[] | undefined;
}) {
  const locked = users
    .map((user) => ({ user, locks: locksOf(deps, user).inForce }))
    .filter(({ locks }) => locks.length > 0);
  return (
    <AccountLayout ctx={ctx} account={account} tab="overview" title="Account security">
      <div class="overview">
        <AdoptionCard users={users} withPasskey={withPasskey} />
        <Card title="Locked users" id="locked">
          {locked.length === 0 ? (
            <p class="empty">No user is locked.</p>
          ) : (
            <>
              <p>
                Locked after too many wrong passwords or passcodes. Open a user's record and choose Actions,
                then Unlock User.
              </p>
              <ul class="plain-list">
                {locked.map(({ user, locks }) => (
                  <li key={user.id}>
                    <a href={userPath(account.id, user.id)} class="wrap">
                      {user.username}
                    </a>
                    {locks.map((lock) => (
                      <div key={lock.kind} class="lock-line">
                        <LockNote lock={lock} />
                      </div>
                    ))}
                  </li>
                ))}
              </ul>
            </>
          )}
        </Card>
      </div>
      <Card title="Failed logins, last 24 hours" id="failed-sign-ins">
        {failed ? (
          <FailedSignInChart hours={failed} id="failed-chart" />
        ) : (
          <p class="hint">The account owner and administrators see failed logins here.</p>
        )}
      </Card>
      <Card title="Multi-factor policy" id="policy">
        <p>
          Multi-factor authentication on this account: <strong>{levelLabel(accountPolicyOf(account))}</strong>
          .
        </p>
        <ButtonLink href={accountPath(account.id, TAB_PATHS.policy)}>Require Multi-Factor</ButtonLink>
      </Card>
    </AccountLayout>
  );
}

export function registerAdminAccountRoutes(app: FastifyInstance, deps: Deps): void {
  app.get('/admin', accountEntry(deps, 'overview'));
  app.get('/admin/users', accountEntry(deps, 'users'));
  app.get('/admin/events', accountEntry(deps, 'events'));

  app.get(
    '/admin/accounts',
    withSession(deps, 'full', async (request, reply, session) => {
      authorize(session, { kind: 'account.administer', domainId: undefined });
      const query = request.query as Record<string, unknown>;
      const search = typeof query.q === 'string' ? query.q.slice(0, 100) : '';
      const accounts = await listAccountsFor(deps, session, search);
      return sendPage(
        reply,
        <ChooseAccountPage
          ctx={pageContext(request, reply, session)}
          accounts={accounts}
          search={search}
          tab={tabOf(query.to)}
        />,
      );
    }),
  );

  app.get(
    '/admin/accounts/:domainId',
    withAccount(deps, async (request, reply, { session, account }) => {
      const users = await listAccountUsersFor(deps, session, account.id);
      const withPasskey = await countUsersWithPasskey(
        deps.db,
        users.map((user) => user.id),
      );
      const failed = may(session, { kind: 'events.read', domainId: account.id })
        ? await failedSignInsByHour(deps, session, account.id)
        : undefined;
      return sendPage(
        reply,
        <OverviewPage
          ctx={pageContext(request, reply, session)}
          deps={deps}
          account={account}
          users={users}
          withPasskey={withPasskey}
          failed={failed}
        />,
      );
    }),
  );
}

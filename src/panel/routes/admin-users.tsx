import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ComponentChildren } from 'preact';
import { type Acting, may } from '../../access/caller.js';
import { roleOf } from '../../access/roles.js';
import { ApiError } from '../../core/errors.js';
import {
  applyMultiFactorChange,
  authorizeMultiFactorChange,
  type MultiFactorChange,
  removeMultiFactor,
} from '../../factors/settings.js';
import { maskPhoneNumber } from '../../factors/sms/phones.js';
import { sendTemporaryCode, temporaryCodeRefusal } from '../../factors/temporary-code.js';
import { listAllDevices } from '../../factors/totp/devices.js';
import { deleteUser, listAccountUsersFor, updateUser } from '../../identity/users.js';
import { locksOf, type UserLocks } from '../../lockout/locks.js';
import { lastSignInsFor } from '../../reports/aggregates.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import { Actions, Button, ButtonLink, Card, ConfirmCard, PostForm, TextField } from '../components.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { type PanelSession, setFlash } from '../session.js';
import {
  AccountLayout,
  accountPath,
  factorLabel,
  LockNote,
  levelLabel,
  MfaBadge,
  mfaStateOf,
  Time,
  targetOf,
  userPath,
  withAccount,
} from './admin-shared.js';
import { ROLE_LABELS } from './profile.js';

type Devices = Awaited<ReturnType<typeof listAllDevices>>;

const roleLabel = (user: UserView): string => ROLE_LABELS[roleOf(user.role).name] ?? user.role;

function StatusBadge({ user }: { user: UserView }) {
  return user.enabled === 1 ? (
    <span class="badge badge-on">Enabled</span>
  ) : (
    <span class="badge badge-bad">Disabled</span>
  );
}

function LastSignIn({ at }: { at: number | undefined }) {
  return at === undefined ? <span class="empty">None recorded</span> : <Time at={at} />;
}

function UserListPage({
  ctx,
  deps,
  account,
  users,
  lastSignIns,
  search,
}: {
  ctx: PageContext;
  deps: Deps;
  account: DomainRow;
  users: UserView[];
  lastSignIns: Map<string, number>;
  search: string;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="users" title="User List">
      {ctx.acting && may(ctx.acting, { kind: 'user.create' }) ? (
        <Actions>
          <ButtonLink href={accountPath(account.id, '/users/new')} kind="primary">
            Create User
          </ButtonLink>
        </Actions>
      ) : null}
      <Card>
        <form method="get" action={accountPath(account.id, '/users')} class="search-form">
          <TextField
            name="q"
            type="search"
            label="Search users"
            hint="Part of a username or email address"
            value={search}
            maxLength={100}
            spellcheck={false}
          />
          <Button kind="secondary">Search</Button>
        </form>
        <p class="hint" role="status">
          {users.length === 1 ? '1 user' : `${users.length} users`}
          {search === '' ? '' : ` match “${search}”`}.
        </p>
        {users.length === 0 ? null : (
          <div class="table-wrap">
            <table class="user-table">
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Multi-factor</th>
                  <th scope="col" class="optional">
                    Factor
                  </th>
                  <th scope="col" class="optional">
                    Last login
                  </th>
                  <th scope="col" class="optional">
                    Status
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((user) => (
                  <tr key={user.id}>
                    <td class="wrap">
                      <a href={userPath(account.id, user.id)}>{user.username}</a>
                      {user.email ? <div class="hint">{user.email}</div> : null}
                      {locksOf(deps, user).inForce.map((lock) => (
                        <div key={lock.kind} class="lock-line">
                          <LockNote lock={lock} />
                        </div>
                      ))}
                    </td>
                    <td>
                      <MfaBadge state={mfaStateOf(deps, user)} />
                    </td>
                    <td class="optional">{factorLabel(user)}</td>
                    <td class="optional">
                      <LastSignIn at={lastSignIns.get(user.id)} />
                    </td>
                    <td class="optional">
                      <StatusBadge user={user} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </AccountLayout>
  );
}

/** The record's "Actions" menu: what the signed-in user may do to this user, and nothing else. */
interface UserActions {
  unlock: boolean;
  temporaryCode: boolean;
  disable: boolean;
  enable: boolean;
  resetMultiFactor: boolean;
  edit: boolean;
  delete: boolean;
}

function actionsFor(
  acting: Acting,
  target: UserView,
  locks: UserLocks,
  temporaryCodeWorks: boolean,
): UserActions {
  const setEnabled = may(acting, { kind: 'user.set-enabled', target });
  return {
    // The seeds: Unlock User for locked users only (either lock: one unlock lifts both), Send
    // Temporary Code only where it can work (the domain's rule: no passcode lock, a verified phone).
    unlock: locks.inForce.length > 0 && may(acting, { kind: 'mfa.unlock', target }),
    temporaryCode: temporaryCodeWorks && may(acting, { kind: 'mfa.send-temporary-code', target }),
    disable: target.enabled === 1 && setEnabled,
    enable: target.enabled !== 1 && setEnabled,
    resetMultiFactor: may(acting, { kind: 'user.manage', target }),
    edit: may(acting, { kind: 'user.manage', target }),
    delete: may(acting, { kind: 'user.delete', target }),
  };
}

function ActionsMenu({
  ctx,
  account,
  target,
  actions,
}: {
  ctx: PageContext;
  account: DomainRow;
  target: UserView;
  actions: UserActions;
}) {
  const path = (rest: string) => userPath(account.id, target.id, rest);
  const items: ComponentChildren[] = [];
  if (actions.unlock)
    items.push(
      <PostForm ctx={ctx} action={path('/unlock')}>
        <button type="submit" class="menu-button">
          Unlock User
        </button>
      </PostForm>,
    );
  if (actions.temporaryCode)
    items.push(
      <PostForm ctx={ctx} action={path('/temporary-code')}>
        <button type="submit" class="menu-button">
          Send Temporary Code
        </button>
      </PostForm>,
    );
  if (actions.enable)
    items.push(
      <PostForm ctx={ctx} action={path('/enable')}>
        <button type="submit" class="menu-button">
          Enable User
        </button>
      </PostForm>,
    );
  if (actions.disable)
    items.push(
      <a class="actions-link" href={path('/disable')}>
        Disable User
      </a>,
    );
  if (actions.resetMultiFactor)
    items.push(
      <a class="actions-link" href={path('/reset-multi-factor')}>
        Reset Multi-Factor
      </a>,
    );
  if (actions.edit)
    items.push(
      <a class="actions-link" href={path('/edit')}>
        Edit User
      </a>,
    );
  if (actions.delete)
    items.push(
      <a class="actions-link" href={path('/delete')}>
        Delete User
      </a>,
    );
  if (items.length === 0) return <p class="hint">There is no action you may take on this user.</p>;
  return (
    <details class="actions-menu">
      <summary class="actions-toggle">Actions</summary>
      <ul>
        {items.map((item, index) => (
          <li key={index}>{item}</li>
        ))}
      </ul>
    </details>
  );
}

function DevicesTable({ devices }: { devices: Devices }) {
  const rows = [
    ...devices.otpDevices.map((device) => ({
      id: device.id,
      name: device.name,
      type: 'Authenticator app',
      verified: device.verified,
    })),
    ...devices.mobilePhones.map((phone) => ({
      id: phone.id,
      name: maskPhoneNumber(phone.number),
      type: 'SMS',
      verified: phone.verified,
    })),
  ];
  if (rows.length === 0) return <p class="empty">No devices.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Type</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td class="device-name">{row.name}</td>
              <td>{row.type}</td>
              <td>
                {row.verified ? (
                  <span class="badge badge-on">Verified</span>
                ) : (
                  <span class="badge badge-warn">Not verified</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function userLevelLabel(user: UserView, account: DomainRow): string {
  if (user.mfa_enforcement === 'REQUIRED') return 'Required for this user';
  if (user.mfa_enforcement === 'OPTIONAL') return 'Optional for this user, whatever the account requires';
  return `As the account: ${levelLabel(account.mfa_enforcement).toLowerCase()}`;
}

function UserRecordPage({
  ctx,
  deps,
  account,
  target,
  lastSignIn,
  devices,
  actions,
}: {
  ctx: PageContext;
  deps: Deps;
  account: DomainRow;
  target: UserView;
  lastSignIn: number | undefined;
  devices: Devices | undefined;
  actions: UserActions;
}) {
  const state = mfaStateOf(deps, target);
  const { password: passwordLocked, passcode: passcodeLocked } = locksOf(deps, target);
  return (
    <AccountLayout ctx={ctx} account={account} tab="users" title={`User ${target.username}`}>
      <p>
        <a href={accountPath(account.id, '/users')}>Back to the User List</a>
      </p>
      <Card title="User" id="user">
        <ActionsMenu ctx={ctx} account={account} target={target} actions={actions} />
        <dl class="details">
          <dt>Username</dt>
          <dd>{target.username}</dd>
          <dt>Email</dt>
          <dd>{target.email ?? 'None'}</dd>
          <dt>Role</dt>
          <dd>{roleLabel(target)}</dd>
          <dt>Status</dt>
          <dd>
            <StatusBadge user={target} />
          </dd>
          <dt>Password</dt>
          <dd>
            {passwordLocked ? (
              <>
                <LockNote lock={passwordLocked} />
                <div class="hint">
                  Every password is refused, the right one too, until the lock lifts
                  {actions.unlock ? ' or you unlock the user (Actions, then Unlock User)' : ''}. The API key
                  still works.
                </div>
              </>
            ) : (
              'Not locked'
            )}
          </dd>
          <dt>Last login</dt>
          <dd>
            <LastSignIn at={lastSignIn} />
          </dd>
        </dl>
      </Card>
      <Card title="Multi-factor authentication" id="multi-factor">
        <dl class="details">
          <dt>State</dt>
          <dd>
            <MfaBadge state={state} />
            {passcodeLocked ? (
              <div class="lock-line">
                <LockNote lock={passcodeLocked} />
              </div>
            ) : null}
          </dd>
          <dt>Factor</dt>
          <dd>{factorLabel(target)}</dd>
          <dt>Requirement</dt>
          <dd>{userLevelLabel(target, account)}</dd>
        </dl>
        {devices ? (
          <>
            <h3>Devices</h3>
            <DevicesTable devices={devices} />
          </>
        ) : null}
      </Card>
    </AccountLayout>
  );
}

function ConfirmUserActionPage({
  ctx,
  account,
  target,
  title,
  action,
  confirm,
  children,
}: {
  ctx: PageContext;
  account: DomainRow;
  target: UserView;
  title: string;
  action: string;
  confirm: string;
  children: ComponentChildren;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="users" title={title}>
      <ConfirmCard
        ctx={ctx}
        action={userPath(account.id, target.id, action)}
        confirm={confirm}
        cancel={userPath(account.id, target.id)}
      >
        {children}
      </ConfirmCard>
    </AccountLayout>
  );
}

/**
 * Runs an action on the user record and returns to it with a banner: green with `done`'s
 * sentence, or the refusal (a 400 or 403 of the domain) in red.
 */
async function recordAction(
  request: FastifyRequest,
  reply: FastifyReply,
  account: DomainRow,
  target: UserView,
  run: () => Promise<string>,
): Promise<FastifyReply> {
  try {
    setFlash(request, reply, 'success', await run());
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 400 && error.status !== 403)) throw error;
    setFlash(request, reply, 'error', error.message);
  }
  return reply.redirect(userPath(account.id, target.id), 303);
}

const UNLOCK: MultiFactorChange = { kind: 'unlock' };

export function registerAdminUserRoutes(app: FastifyInstance, deps: Deps): void {
  /** A POST on a user record: run the change, then back to the record with its banner. */
  const userAction = (name: string, run: (session: PanelSession, target: UserView) => Promise<string>) =>
    app.post(
      `/admin/accounts/:domainId/users/:userId/${name}`,
      withAccount(deps, async (request, reply, { session, account }) => {
        const target = await targetOf(deps, request, session, account);
        return recordAction(request, reply, account, target, () => run(session, target));
      }),
    );

  /** The "Are you sure?" page (GET) of a POST on a user record. */
  const confirmPage = (
    name: string,
    title: (target: UserView) => string,
    confirm: string,
    body: (target: UserView) => ComponentChildren,
  ) =>
    app.get(
      `/admin/accounts/:domainId/users/:userId/${name}`,
      withAccount(deps, async (request, reply, { session, account }) => {
        const target = await targetOf(deps, request, session, account);
        return sendPage(
          reply,
          <ConfirmUserActionPage
            ctx={pageContext(request, reply, session)}
            account={account}
            target={target}
            title={title(target)}
            action={`/${name}`}
            confirm={confirm}
          >
            {body(target)}
          </ConfirmUserActionPage>,
        );
      }),
    );

  app.get(
    '/admin/accounts/:domainId/users',
    withAccount(deps, async (request, reply, { session, account }) => {
      const query = request.query as Record<string, unknown>;
      const search = typeof query.q === 'string' ? query.q.trim().slice(0, 100) : '';
      const users = await listAccountUsersFor(deps, session, account.id, search);
      const lastSignIns = await lastSignInsFor(deps, session, users);
      return sendPage(
        reply,
        <UserListPage
          ctx={pageContext(request, reply, session)}
          deps={deps}
          account={account}
          users={users}
          lastSignIns={lastSignIns}
          search={search}
        />,
      );
    }),
  );

  app.get(
    '/admin/accounts/:domainId/users/:userId',
    withAccount(deps, async (request, reply, { session, account }) => {
      const target = await targetOf(deps, request, session, account);
      const lastSignIn = (await lastSignInsFor(deps, session, [target])).get(target.id);
      // Devices are the user's multi-factor data: shown to those who may manage it (as the API).
      const devices = may(session, { kind: 'user.manage', target })
        ? await listAllDevices(deps.db, target.id)
        : undefined;
      return sendPage(
        reply,
        <UserRecordPage
          ctx={pageContext(request, reply, session)}
          deps={deps}
          account={account}
          target={target}
          lastSignIn={lastSignIn}
          devices={devices}
          actions={actionsFor(
            session,
            target,
            locksOf(deps, target),
            (await temporaryCodeRefusal(deps, target)) === undefined,
          )}
        />,
      );
    }),
  );

  userAction('unlock', async (session, target) => {
    authorizeMultiFactorChange(session, target, UNLOCK);
    await applyMultiFactorChange(deps, session, target.id, UNLOCK);
    return `The user account ${target.username} was successfully unlocked.`;
  });

  userAction('temporary-code', async (session, target) => {
    const sent = await sendTemporaryCode(deps, session, target);
    return `A temporary code has been sent to ${sent.sentTo}. The code is valid for five minutes.`;
  });

  userAction('enable', async (session, target) => {
    await updateUser(deps, session, target.id, { enabled: true });
    return `${target.username} is enabled and can log in again.`;
  });

  confirmPage(
    'disable',
    (target) => `Disable ${target.username}?`,
    'Disable User',
    () => (
      <p>
        The user is logged out everywhere at once and cannot log in, with a password or an API key, until
        enabled again.
      </p>
    ),
  );

  userAction('disable', async (session, target) => {
    await updateUser(deps, session, target.id, { enabled: false });
    return `${target.username} is disabled and has been logged out.`;
  });

  confirmPage(
    'reset-multi-factor',
    (target) => `Reset multi-factor authentication of ${target.username}?`,
    'Reset Multi-Factor',
    () => (
      <>
        <p>
          Every authenticator app and phone of this user is removed, its bypass codes stop working, and
          multi-factor authentication is turned off. Use this when the user has lost the device.
        </p>
        <p>
          Where the account or the user requires multi-factor authentication, the user is guided through
          setting it up again at the next log in.
        </p>
      </>
    ),
  );

  confirmPage(
    'delete',
    (target) => `Delete ${target.username}?`,
    'Delete User',
    (target) => (
      <p>
        The user <strong>{target.username}</strong>
        {target.email ? ` (${target.email})` : ''} is deleted at once, with its API key, tokens and
        multi-factor devices. This cannot be undone.
      </p>
    ),
  );

  app.post(
    '/admin/accounts/:domainId/users/:userId/delete',
    withAccount(deps, async (request, reply, { session, account }) => {
      const target = await targetOf(deps, request, session, account);
      try {
        await deleteUser(deps, session, target.id);
      } catch (error) {
        return recordAction(request, reply, account, target, () => Promise.reject(error));
      }
      setFlash(request, reply, 'success', `The user ${target.username} was deleted.`);
      return reply.redirect(accountPath(account.id, '/users'), 303);
    }),
  );

  userAction('reset-multi-factor', async (session, target) => {
    // The API's DELETE .../multi-factor, with its rule: self or precedence (reference §7.0, §7.13).
    await removeMultiFactor(deps, session, target.id);
    return `Multi-factor authentication of ${target.username} was reset: its devices are removed and it is off.`;
  });
}

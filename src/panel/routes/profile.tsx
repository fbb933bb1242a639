import type { FastifyInstance } from 'fastify';
import type { ComponentChildren } from 'preact';
import { auditActor } from '../../access/acting.js';
import { roleOf } from '../../access/roles.js';
import { ApiError } from '../../core/errors.js';
import { listPasskeys, makePasskeysDefault, type PasskeyView } from '../../factors/passkeys/passkeys.js';
import { removeMultiFactor } from '../../factors/settings.js';
import { formatPhoneNumber } from '../../factors/sms/phones.js';
import { listAllDevices } from '../../factors/totp/devices.js';
import { findUserById } from '../../identity/users.js';
import type { FactorType, MultiFactorMethod } from '../../policy/enforcement.js';
import type { Deps } from '../../services/deps.js';
import { type UserView, userView } from '../../store/schema.js';
import {
  Actions,
  Button,
  ButtonLink,
  Card,
  ConfirmForm,
  PostForm,
  RadioGroup,
  SelectField,
} from '../components.js';
import { CardPage, Layout } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { endSession, type PanelSession, setFlash, withSession } from '../session.js';
import { MethodChooser, PROFILE_AREA } from './areas.js';
import { changeMultiFactor } from './multi-factor.js';
import { PasskeysCard, passkeysHere } from './passkeys.js';

type Devices = Awaited<ReturnType<typeof listAllDevices>>;

export const FACTOR_LABELS: Record<MultiFactorMethod, string> = {
  OTP: 'Authenticator app',
  SMS: 'SMS',
  PASSKEY: 'Passkey or security key',
};

export const ROLE_LABELS: Record<string, string> = {
  'identity:service-admin': 'Service administrator',
  'identity:admin': 'Identity administrator',
  'identity:user-admin': 'Account owner',
  'identity:user-manage': 'User manager',
  'identity:default': 'User',
};

function StateBadge({ verified }: { verified: boolean }) {
  return verified ? (
    <span class="badge badge-on">Verified</span>
  ) : (
    <span class="badge badge-warn">Not verified</span>
  );
}

function verifiedFactors(devices: Devices): FactorType[] {
  const factors: FactorType[] = [];
  if (devices.otpDevices.some((device) => device.verified)) factors.push('OTP');
  if (devices.mobilePhones.some((phone) => phone.verified)) factors.push('SMS');
  return factors;
}

/** Every device of the user, authenticators first, as the rows of the devices table show them. */
function deviceRows(
  devices: Devices,
): { kind: 'authenticator' | 'sms'; id: string; name: string; verified: boolean }[] {
  return [
    ...devices.otpDevices.map(({ id, name, verified }) => ({
      kind: 'authenticator' as const,
      id,
      name,
      verified,
    })),
    ...devices.mobilePhones.map(({ id, number, verified }) => ({
      kind: 'sms' as const,
      id,
      name: formatPhoneNumber(number),
      verified,
    })),
  ];
}

/** The methods the default can be: verified devices, and passkeys if there is one. */
function defaultChoices(devices: Devices, passkeys: PasskeyView[]): MultiFactorMethod[] {
  return [...verifiedFactors(devices), ...(passkeys.length > 0 ? (['PASSKEY'] as const) : [])];
}

/** One device row: its name, kind, state, and Verify / Manage / Delete (seeds 000, 001). */
function DeviceRow({
  ctx,
  kind,
  id,
  name,
  verified,
}: {
  ctx: PageContext;
  kind: 'authenticator' | 'sms';
  id: string;
  name: string;
  verified: boolean;
}) {
  const page = `/profile/${kind}/${id}`;
  const what = kind === 'authenticator' ? `authenticator ${name}` : `phone ${name}`;
  return (
    <tr>
      <td class="device-name">{name}</td>
      <td class="optional">{kind === 'authenticator' ? 'Authenticator app' : 'SMS'}</td>
      <td>
        <StateBadge verified={verified} />
      </td>
      <td>
        <div class="row-actions">
          {verified ? (
            <a class="button button-secondary button-small" href={page}>
              Manage<span class="visually-hidden"> {what}</span>
            </a>
          ) : (
            <a class="button button-primary button-small" href={page}>
              Verify<span class="visually-hidden"> {what}</span>
            </a>
          )}
          <PostForm ctx={ctx} action={`${page}/delete`}>
            <button type="submit" class="button button-link button-small">
              Delete<span class="visually-hidden"> {what}</span>
            </button>
          </PostForm>
        </div>
      </td>
    </tr>
  );
}

function ProfilePage({
  ctx,
  deps,
  user,
  devices,
  passkeys,
  here,
}: {
  ctx: PageContext;
  deps: Deps;
  user: UserView;
  devices: Devices;
  passkeys: PasskeyView[];
  here: boolean;
}) {
  const mfaOn = user.mfa_enabled === 1;
  const factor = user.factor_type as MultiFactorMethod | null;
  const verified = defaultChoices(devices, passkeys);
  const hasDevices = devices.otpDevices.length + devices.mobilePhones.length > 0;
  return (
    <Layout ctx={ctx} title="My Profile & Settings">
      <h1 class="page-title">My Profile & Settings</h1>
      <Card title="Profile" id="profile">
        <dl class="details">
          <dt>Username</dt>
          <dd>{user.username}</dd>
          <dt>Email</dt>
          <dd>{user.email ?? 'None'}</dd>
          <dt>Account</dt>
          <dd>{user.domain_id ?? 'None'}</dd>
          <dt>Role</dt>
          <dd>{ROLE_LABELS[roleOf(user.role).name] ?? user.role}</dd>
        </dl>
      </Card>

      <Card title="Password & API key" id="credentials">
        <p>Your API key logs in to the API in place of your password; you enter your password to see it.</p>
        <Actions>
          <ButtonLink href="/profile/password">Change Password</ButtonLink>
          <ButtonLink href="/profile/api-key">Show API Key</ButtonLink>
          <ButtonLink href="/profile/api-key/reset" kind="link">
            Reset API Key
          </ButtonLink>
        </Actions>
      </Card>

      <Card title="Security Settings" id="security">
        <dl class="settings">
          <div class="setting">
            <dt>Multi-factor authentication</dt>
            <dd>
              {mfaOn ? <span class="badge badge-on">On</span> : <span class="badge badge-off">Off</span>}
              {mfaOn ? (
                <ButtonLink href="/profile/mfa/disable">Disable</ButtonLink>
              ) : (
                <ButtonLink href="/profile/mfa/enable" kind="primary">
                  Enable
                </ButtonLink>
              )}
            </dd>
          </div>
          {mfaOn && factor ? (
            <div class="setting">
              <dt>Default authentication method</dt>
              <dd>
                {verified.length > 1 ? (
                  <PostForm ctx={ctx} action="/profile/mfa/default" class="inline-form">
                    <SelectField
                      name="factor"
                      label="Default authentication method"
                      labelHidden
                      options={verified.map((value) => ({ value, label: FACTOR_LABELS[value] }))}
                      value={factor}
                    />
                    <Button kind="secondary">Change Default Method</Button>
                  </PostForm>
                ) : (
                  <span>{FACTOR_LABELS[factor]}</span>
                )}
              </dd>
            </div>
          ) : null}
        </dl>
      </Card>

      <Card title="Multi-factor devices" id="devices">
        {hasDevices ? (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col" class="optional">
                    Type
                  </th>
                  <th scope="col">State</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {deviceRows(devices).map((row) => (
                  <DeviceRow key={row.id} ctx={ctx} {...row} />
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="empty">No devices yet.</p>
        )}
        <Actions>
          <ButtonLink href="/profile/authenticator/new">Add Authenticator App</ButtonLink>
          {devices.mobilePhones.length === 0 ? (
            <ButtonLink href="/profile/sms/new">Add SMS Device</ButtonLink>
          ) : null}
          {hasDevices ? (
            <ButtonLink href="/profile/devices/remove-all" kind="link">
              Remove All Devices
            </ButtonLink>
          ) : null}
        </Actions>
      </Card>

      <PasskeysCard deps={deps} passkeys={passkeys} here={here} />

      <Card title="Bypass codes" id="bypass-codes">
        <p>
          Bypass codes let you log in when you do not have your device. Each code works once, in place of a
          passcode.
        </p>
        {mfaOn ? (
          <ButtonLink href="/profile/bypass-codes">Generate Bypass Codes</ButtonLink>
        ) : (
          <p class="hint">Turn on multi-factor authentication to generate bypass codes.</p>
        )}
      </Card>
    </Layout>
  );
}

function EnablePage({ ctx, factors }: { ctx: PageContext; factors: FactorType[] }) {
  return (
    <Layout ctx={ctx} title="Enable multi-factor authentication" width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>Enable multi-factor authentication</h1>
        {factors.length > 0 ? (
          <>
            <p>
              Turn multi-factor authentication on with a device you have already verified. You will be logged
              out, to log in again with your password and a passcode.
            </p>
            <PostForm ctx={ctx} action="/profile/mfa/enable">
              <RadioGroup
                name="factor"
                legend="Default authentication method"
                value={factors[0]}
                options={factors.map((value) => ({ value, label: FACTOR_LABELS[value] }))}
              />
              <Actions>
                <Button>Enable</Button>
                <ButtonLink href="/profile">Cancel</ButtonLink>
              </Actions>
            </PostForm>
            <h2>Or add a new device</h2>
          </>
        ) : (
          <p>First add a device that gives you passcodes, and verify it.</p>
        )}
        <MethodChooser area={PROFILE_AREA} />
      </Card>
    </Layout>
  );
}

/** An "Are you sure?" page of My Profile & Settings; Cancel returns to the profile. */
export function ConfirmPage({
  ctx,
  title,
  children,
  action,
  confirm,
}: {
  ctx: PageContext;
  title: string;
  children: ComponentChildren;
  action: string;
  confirm: string;
}) {
  return (
    <CardPage ctx={ctx} lead="My Profile & Settings" title={title}>
      {children}
      <ConfirmForm ctx={ctx} action={action} confirm={confirm} cancel="/profile" />
    </CardPage>
  );
}

/** The user as stored now (the session's copy was read when the request began). */
async function currentUser(deps: Deps, session: PanelSession): Promise<UserView> {
  const row = await findUserById(deps.db, session.user.id);
  return row ? userView(row) : session.user;
}

function factorOf(value: string): FactorType | undefined {
  return value === 'OTP' || value === 'SMS' ? value : undefined;
}

export function registerProfileRoutes(app: FastifyInstance, deps: Deps): void {
  /** The "Are you sure?" page (GET) of a POST at the same address. */
  const confirmPage = (path: string, title: string, confirm: string, body: ComponentChildren) =>
    app.get(
      path,
      withSession(deps, 'full', async (request, reply, session) =>
        sendPage(
          reply,
          <ConfirmPage
            ctx={pageContext(request, reply, session)}
            title={title}
            action={path}
            confirm={confirm}
          >
            {body}
          </ConfirmPage>,
        ),
      ),
    );

  app.get(
    '/profile',
    withSession(deps, 'full', async (request, reply, session) => {
      const devices = await listAllDevices(deps.db, session.user.id);
      const passkeys = await listPasskeys(deps.db, session.user.id);
      return sendPage(
        reply,
        <ProfilePage
          ctx={pageContext(request, reply, session)}
          deps={deps}
          user={session.user}
          devices={devices}
          passkeys={passkeys}
          here={passkeysHere(deps, request)}
        />,
      );
    }),
  );

  app.get(
    '/profile/mfa/enable',
    withSession(deps, 'full', async (request, reply, session) => {
      if (session.user.mfa_enabled === 1) return reply.redirect('/profile', 303);
      const factors = verifiedFactors(await listAllDevices(deps.db, session.user.id));
      return sendPage(reply, <EnablePage ctx={pageContext(request, reply, session)} factors={factors} />);
    }),
  );

  app.post(
    '/profile/mfa/enable',
    withSession(deps, 'full', async (request, reply, session) => {
      const factor = factorOf(PostedForm.of(request).text('factor', 8));
      // Turning MFA on revokes every password-only token, the one behind this session included.
      await changeMultiFactor(deps, session, { enabled: true, factorType: factor ?? null });
      endSession(request, reply);
      setFlash(
        request,
        reply,
        'success',
        'Multi-factor authentication is now on. Log in again with your password and a passcode.',
      );
      return reply.redirect('/sign-in', 303);
    }),
  );

  confirmPage(
    '/profile/mfa/disable',
    'Disable multi-factor authentication?',
    'Disable',
    <p>
      You will log in with your password alone. Your devices stay registered, so you can turn it on again
      later; your bypass codes stop working.
    </p>,
  );

  app.post(
    '/profile/mfa/disable',
    withSession(deps, 'full', async (request, reply, session) => {
      await changeMultiFactor(deps, session, { enabled: false });
      setFlash(request, reply, 'success', 'Multi-factor authentication is off.');
      return reply.redirect('/profile', 303);
    }),
  );

  app.post(
    '/profile/mfa/default',
    withSession(deps, 'full', async (request, reply, session) => {
      const chosen = PostedForm.of(request).text('factor', 8);
      const factor = factorOf(chosen);
      try {
        if (chosen === 'PASSKEY') await makePasskeysDefault(deps, auditActor(session), session.user);
        else await changeMultiFactor(deps, session, { factorType: factor ?? 'invalid' });
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 400) throw error;
        setFlash(request, reply, 'error', error.message);
        return reply.redirect('/profile', 303);
      }
      const user = await currentUser(deps, session);
      const now = FACTOR_LABELS[(user.factor_type as MultiFactorMethod | null) ?? 'OTP'];
      setFlash(request, reply, 'success', `Your default authentication method is now: ${now}.`);
      return reply.redirect('/profile', 303);
    }),
  );

  confirmPage(
    '/profile/devices/remove-all',
    'Remove all devices?',
    'Remove All Devices',
    <p>
      Every authenticator app, phone, passkey and security key is removed from your account, multi-factor
      authentication is turned off, and your bypass codes stop working.
    </p>,
  );

  app.post(
    '/profile/devices/remove-all',
    withSession(deps, 'full', async (request, reply, session) => {
      await removeMultiFactor(deps, session, session.user.id);
      setFlash(request, reply, 'success', 'All devices were removed and multi-factor authentication is off.');
      return reply.redirect('/profile', 303);
    }),
  );
}

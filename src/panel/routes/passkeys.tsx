import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditActor } from '../../access/acting.js';
import { revokeToken } from '../../access/tokens.js';
import { ApiError } from '../../core/errors.js';
import {
  deletePasskey,
  finishPasskeyRegistration,
  listPasskeys,
  MAX_PASSKEY_NICKNAME,
  MAX_PASSKEYS,
  type PasskeyView,
  parseRegistrationResponse,
  passkeysAvailable,
  relyingParty,
  renamePasskey,
  startPasskeyRegistration,
} from '../../factors/passkeys/passkeys.js';
import { findUserById } from '../../identity/users.js';
import type { Deps } from '../../services/deps.js';
import type { UserView } from '../../store/schema.js';
import { Actions, Banner, Button, ButtonLink, Card, PostForm, TextField } from '../components.js';
import { Layout } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { ADD_PASSKEY_PAGE, endSession, setFlash, withSession } from '../session.js';

/**
 * Where the add-passkey pages lead back to: the profile, or, for a session that can only add a
 * passkey (its account requires one), nowhere but out (the user menu's Log Out).
 */
function CancelLink({ ctx, href }: { ctx: PageContext; href: string }) {
  return ctx.setupOnly ? null : <ButtonLink href={href}>Cancel</ButtonLink>;
}

/** A time as the rest of the panel shows it: UTC, to the minute. */
function formatTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The browser side of WebAuthn, served from the panel's own origin (the CSP allows no other). */
export const WEBAUTHN_SCRIPT = '/assets/vendor/simplewebauthn-browser.js';
const WEBAUTHN_BUNDLE = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')),
  '..',
  'dist',
  'bundle',
  'index.umd.min.js',
);

/** A response field can hold a browser's answer: a few kilobytes of base64url. */
export const MAX_RESPONSE_FIELD = 65_536;

/** The scripts of a page with a passkey prompt: the library, then ours that drives it. */
export function PasskeyScripts() {
  return (
    <>
      <script src={WEBAUTHN_SCRIPT} defer />
      <script src="/assets/passkeys.js" defer />
    </>
  );
}

/**
 * The prompt: a form carrying the ceremony's options, which the script hands to the browser and
 * posts back with the answer. Without JavaScript the button stays hidden and the page says why.
 */
export function PasskeyPrompt({
  ctx,
  action,
  ceremony,
  options,
  label,
}: {
  ctx: PageContext;
  action: string;
  ceremony: 'register' | 'authenticate';
  options: unknown;
  label: string;
}) {
  return (
    <>
      <form method="post" action={action} data-passkey={ceremony} data-options={JSON.stringify(options)}>
        <input type="hidden" name="_csrf" value={ctx.csrfToken} />
        <input type="hidden" name="response" value="" />
        <p class="passkey-nojs" data-passkey-nojs>
          Passkeys and security keys need JavaScript: turn it on in this browser, or use another method.
        </p>
        <button type="button" class="button button-primary" data-passkey-start hidden>
          {label}
        </button>
        <p id="passkey-status" class="field-error" role="status" aria-live="polite" />
      </form>
      <PasskeyScripts />
    </>
  );
}

/**
 * Whether this page can run a passkey ceremony: the relying party is a name (WebAuthn refuses IP
 * addresses) and the panel was opened at the relying party's own address (the browser binds the
 * answer to the address in its bar; ours must match exactly).
 */
export function passkeysHere(deps: Deps, request: FastifyRequest): boolean {
  if (!passkeysAvailable(deps.config)) return false;
  return request.host === new URL(relyingParty(deps.config).origin).host;
}

/** WebAuthn refuses IP addresses: at one, the panel sends the user to the public URL's name. */
export function PasskeysUnavailable({ deps }: { deps: Deps }) {
  const { origin } = relyingParty(deps.config);
  return (
    <p>
      Passkeys and security keys work only at this service's public address, which must be a name, not an IP
      address: open <a href={`${origin}/profile`}>{origin}</a> to use them (LATCHKEY_PUBLIC_URL sets it).
    </p>
  );
}

function passkeyLabel(passkey: PasskeyView): string {
  return passkey.nickname;
}

/** The "Passkeys and security keys" section of My Profile & Settings. */
export function PasskeysCard({
  deps,
  passkeys,
  here,
}: {
  deps: Deps;
  passkeys: PasskeyView[];
  /** passkeysHere for this request. */
  here: boolean;
}) {
  const available = here;
  return (
    <Card title="Passkeys and security keys" id="passkeys">
      <p>
        A passkey (on this device or your phone) or a security key logs you in without a code, and cannot be
        phished: it answers only to this site.
      </p>
      {passkeys.length > 0 ? (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Nickname</th>
                <th scope="col" class="optional">
                  Added
                </th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {passkeys.map((passkey) => (
                <tr key={passkey.id}>
                  <td class="device-name">{passkeyLabel(passkey)}</td>
                  <td class="optional">{formatTime(passkey.createdAt)}</td>
                  <td>{passkey.lastUsedAt === null ? 'Never' : formatTime(passkey.lastUsedAt)}</td>
                  <td>
                    <div class="row-actions">
                      <a
                        class="button button-secondary button-small"
                        href={`/profile/passkeys/${passkey.id}/rename`}
                      >
                        Rename<span class="visually-hidden"> passkey {passkey.nickname}</span>
                      </a>
                      <a
                        class="button button-link button-small"
                        href={`/profile/passkeys/${passkey.id}/delete`}
                      >
                        Delete<span class="visually-hidden"> passkey {passkey.nickname}</span>
                      </a>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="empty">No passkeys or security keys yet.</p>
      )}
      {!available ? (
        <PasskeysUnavailable deps={deps} />
      ) : passkeys.length >= MAX_PASSKEYS ? (
        <p class="hint">You have added the maximum of {MAX_PASSKEYS} passkeys and security keys.</p>
      ) : (
        <Actions>
          <ButtonLink href="/profile/passkeys/new">Add Passkey or Security Key</ButtonLink>
        </Actions>
      )}
      <noscript>
        <p class="hint">Passkeys and security keys need JavaScript; every other method works without it.</p>
      </noscript>
    </Card>
  );
}

function NicknamePage({
  ctx,
  deps,
  here,
  error,
  value,
}: {
  ctx: PageContext;
  deps: Deps;
  here: boolean;
  error?: string;
  value?: string;
}) {
  return (
    <Layout ctx={ctx} title="Add Passkey or Security Key" width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>Add Passkey or Security Key</h1>
        {ctx.setupOnly ? (
          <p>
            Your account requires a passkey or security key at log in. Add one to go on: then log in again
            with it.
          </p>
        ) : null}
        {here ? (
          <PostForm ctx={ctx} action="/profile/passkeys/new">
            <TextField
              name="nickname"
              label="Nickname"
              hint="So you can tell your keys apart, such as “Work laptop” or “Blue security key”."
              error={error}
              value={value}
              required
              maxLength={MAX_PASSKEY_NICKNAME}
              autoFocus
            />
            <Actions>
              <Button>Continue</Button>
              <CancelLink ctx={ctx} href="/profile" />
            </Actions>
          </PostForm>
        ) : (
          <PasskeysUnavailable deps={deps} />
        )}
      </Card>
    </Layout>
  );
}

function RegisterPage({ ctx, nickname, options }: { ctx: PageContext; nickname: string; options: unknown }) {
  return (
    <Layout ctx={ctx} title="Add Passkey or Security Key" width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>Add Passkey or Security Key</h1>
        <p>
          Choose the button, then follow your browser: it asks where to keep the passkey for{' '}
          <strong>{nickname}</strong>, or to touch your security key.
        </p>
        <PasskeyPrompt
          ctx={ctx}
          action="/profile/passkeys"
          ceremony="register"
          options={options}
          label="Add Passkey or Security Key"
        />
        {ctx.setupOnly ? null : (
          <p class="start-over">
            <a href="/profile">Cancel</a>
          </p>
        )}
      </Card>
    </Layout>
  );
}

async function currentUser(deps: Deps, fallback: UserView): Promise<UserView> {
  return (await findUserById(deps.db, fallback.id)) ?? fallback;
}

async function ownPasskey(deps: Deps, userId: string, id: string): Promise<PasskeyView | undefined> {
  return (await listPasskeys(deps.db, userId)).find((passkey) => passkey.id === id);
}

export function registerPasskeyRoutes(app: FastifyInstance, deps: Deps): void {
  let bundle: string | undefined;
  app.get(WEBAUTHN_SCRIPT, async (_request, reply) => {
    bundle ??= readFileSync(WEBAUTHN_BUNDLE, 'utf8');
    return reply
      .type('text/javascript; charset=utf-8')
      .header('Cache-Control', 'public, max-age=3600')
      .send(bundle);
  });

  app.get(
    '/profile/passkeys/new',
    withSession(deps, 'add-passkey', async (request, reply, session) =>
      sendPage(
        reply,
        <NicknamePage
          ctx={pageContext(request, reply, session)}
          deps={deps}
          here={passkeysHere(deps, request)}
        />,
      ),
    ),
  );

  app.post(
    '/profile/passkeys/new',
    withSession(deps, 'add-passkey', async (request, reply, session) => {
      const nickname = PostedForm.of(request).text('nickname', 256);
      try {
        const user = await currentUser(deps, session.user);
        const options = await startPasskeyRegistration(deps, user, nickname);
        return sendPage(
          reply,
          <RegisterPage
            ctx={pageContext(request, reply, session)}
            nickname={nickname.trim()}
            options={options}
          />,
        );
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 400) throw error;
        return sendPage(
          reply,
          <NicknamePage
            ctx={pageContext(request, reply, session)}
            deps={deps}
            here={passkeysHere(deps, request)}
            error={error.message}
            value={nickname}
          />,
          400,
        );
      }
    }),
  );

  app.post(
    '/profile/passkeys',
    withSession(deps, 'add-passkey', async (request, reply, session) => {
      const before = await currentUser(deps, session.user);
      try {
        const response = parseRegistrationResponse(
          PostedForm.of(request).text('response', MAX_RESPONSE_FIELD),
        );
        const passkey = await finishPasskeyRegistration(deps, auditActor(session), before, response);
        if (session.scope === 'ADD-PASSKEY') {
          // The passcode's last session has done its one job: from now on, the passkey.
          await revokeToken(deps, session.token, session, session.user, 'passkey added');
          endSession(request, reply);
          setFlash(
            request,
            reply,
            'success',
            `Passkey ${passkey.nickname} added. Log in again with your password and the passkey.`,
          );
          return reply.redirect('/sign-in', 303);
        }
        if (before.mfa_enabled !== 1) {
          // Turning multi-factor on revoked the password-only token behind this session.
          endSession(request, reply);
          setFlash(
            request,
            reply,
            'success',
            `Passkey ${passkey.nickname} added, and multi-factor authentication is now on. Log in again with your password and the passkey.`,
          );
          return reply.redirect('/sign-in', 303);
        }
        setFlash(request, reply, 'success', `Passkey ${passkey.nickname} added.`);
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 400) throw error;
        setFlash(request, reply, 'error', error.message);
      }
      return reply.redirect(session.scope === 'ADD-PASSKEY' ? ADD_PASSKEY_PAGE : '/profile#passkeys', 303);
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/profile/passkeys/:id/rename',
    withSession(deps, 'full', async (request, reply, session) => {
      const { id } = request.params as { id: string };
      const passkey = await ownPasskey(deps, session.user.id, id);
      if (!passkey) return reply.redirect('/profile#passkeys', 303);
      return sendPage(reply, <RenamePage ctx={pageContext(request, reply, session)} passkey={passkey} />);
    }),
  );

  app.post(
    '/profile/passkeys/:id/rename',
    withSession(deps, 'full', async (request, reply, session) => {
      const { id } = request.params as { id: string };
      const nickname = PostedForm.of(request).text('nickname', 256);
      try {
        const renamed = await renamePasskey(deps, auditActor(session), session.user, id, nickname);
        setFlash(request, reply, 'success', `Passkey renamed to ${renamed.nickname}.`);
        return reply.redirect('/profile#passkeys', 303);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const passkey = await ownPasskey(deps, session.user.id, id);
        if (error.status !== 400 || !passkey) {
          setFlash(request, reply, 'error', error.message);
          return reply.redirect('/profile#passkeys', 303);
        }
        return sendPage(
          reply,
          <RenamePage ctx={pageContext(request, reply, session)} passkey={passkey} error={error.message} />,
          400,
        );
      }
    }),
  );

  app.get(
    '/profile/passkeys/:id/delete',
    withSession(deps, 'full', async (request, reply, session) => {
      const { id } = request.params as { id: string };
      const passkey = await ownPasskey(deps, session.user.id, id);
      if (!passkey) return reply.redirect('/profile#passkeys', 303);
      const user = await currentUser(deps, session.user);
      const others = (await listPasskeys(deps.db, user.id)).length - 1;
      const lastDefault = user.mfa_enabled === 1 && user.factor_type === 'PASSKEY' && others === 0;
      const ctx = pageContext(request, reply, session);
      return sendPage(
        reply,
        <Layout ctx={ctx} title={`Delete passkey ${passkey.nickname}?`} width="narrow">
          <Card>
            <p class="lead">My Profile & Settings</p>
            <h1>Delete passkey {passkey.nickname}?</h1>
            <p>
              It will no longer log you in. Remove it from the device or password manager that keeps it too.
            </p>
            {lastDefault ? (
              <Banner tone="info">
                It is your last passkey and your default method: your authenticator app or phone becomes the
                default, or, without one, multi-factor authentication turns off.
              </Banner>
            ) : null}
            <PostForm ctx={ctx} action={`/profile/passkeys/${passkey.id}/delete`}>
              <Actions>
                <Button kind="danger">Delete</Button>
                <ButtonLink href="/profile#passkeys">Cancel</ButtonLink>
              </Actions>
            </PostForm>
          </Card>
        </Layout>,
      );
    }),
  );

  app.post(
    '/profile/passkeys/:id/delete',
    withSession(deps, 'full', async (request, reply, session) => {
      const { id } = request.params as { id: string };
      const passkey = await ownPasskey(deps, session.user.id, id);
      if (!passkey) {
        setFlash(request, reply, 'error', 'That passkey was already deleted.');
        return reply.redirect('/profile#passkeys', 303);
      }
      await deletePasskey(deps, auditActor(session), session.user, id);
      setFlash(request, reply, 'success', `Passkey ${passkey.nickname} deleted.`);
      return reply.redirect('/profile#passkeys', 303);
    }),
  );
}

function RenamePage({ ctx, passkey, error }: { ctx: PageContext; passkey: PasskeyView; error?: string }) {
  return (
    <Layout ctx={ctx} title="Rename passkey" width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>Rename passkey {passkey.nickname}</h1>
        <PostForm ctx={ctx} action={`/profile/passkeys/${passkey.id}/rename`}>
          <TextField
            name="nickname"
            label="Nickname"
            error={error}
            value={passkey.nickname}
            required
            maxLength={MAX_PASSKEY_NICKNAME}
            autoFocus
          />
          <Actions>
            <Button>Save</Button>
            <ButtonLink href="/profile#passkeys">Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </Layout>
  );
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { revokeToken } from '../../access/tokens.js';
import { type LoginResult, login, resendChallengePasscode } from '../../auth/login.js';
import { findMfaSession } from '../../auth/mfa-session.js';
import { ApiError } from '../../core/errors.js';
import { parseAuthenticationResponse, startPasskeyAuthentication } from '../../factors/passkeys/passkeys.js';
import { SourceLimitReached } from '../../lockout/source-failures.js';
import { passkeysRequiredOf } from '../../policy/domain-enforcement.js';
import type { Deps } from '../../services/deps.js';
import { Banner, Button, Card, CodeField, PostForm, TextField } from '../components.js';
import { Layout } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, PageTemplate, pageContext, sendPage } from '../render.js';
import {
  clearPendingSignIn,
  endSession,
  homeOf,
  lookupSession,
  type PendingSignIn,
  readPendingSignIn,
  setFlash,
  setPendingSignIn,
  startSession,
} from '../session.js';
import { MAX_RESPONSE_FIELD, PasskeyPrompt, passkeysHere } from './passkeys.js';

/** Seed 000 "Locked account", with this server's threshold and lock duration. */
export function lockedMessage(deps: Deps): string {
  const times = deps.config.lockoutThreshold - 1;
  const wait =
    deps.config.lockoutSeconds > 0
      ? ` Wait ${Math.ceil(deps.config.lockoutSeconds / 60)} minutes, or contact your account administrator to unlock it.`
      : ' Contact your account administrator to restore access.';
  return `Your account is locked because an incorrect passcode was entered more than ${times} times.${wait}`;
}

const EXPIRED_SIGN_IN =
  'Your passcode has expired. Log in again with your username and password to get a new passcode.';

/** A passcode of a user whose account requires passkeys, and who has one. */
const PASSKEY_REQUIRED =
  'Your account requires a passkey or security key: a passcode is not accepted. Log in again and use your passkey or security key.';

/** The last log in with a passcode of a user whose account requires passkeys. */
const ADD_PASSKEY_NOW =
  'Your account now requires a passkey or security key. Add one now: once you have one, a passcode is no longer accepted at log in.';

/** The per-address limit on failed logins (not the user's: anyone at this address is refused). */
function sourceLimitText(error: SourceLimitReached): string {
  const minutes = Math.max(1, Math.ceil(error.retryAfterSeconds / 60));
  return `Too many failed login attempts from this address. Wait ${minutes} minute${minutes === 1 ? '' : 's'}, then try again.`;
}

/** How a failed password step reads on the sign-in page. */
function signInErrorText(deps: Deps, error: ApiError): string {
  // An engaged password lock reads as a wrong password, as it does over the API.
  if (error.reason === 'bad-credentials' || error.reason === 'password-locked')
    return 'The username or password is incorrect.';
  if (error.reason === 'locked') return lockedMessage(deps);
  if (error.fault === 'userDisabled') return 'This user is disabled. Contact your account administrator.';
  if (error instanceof SourceLimitReached) return sourceLimitText(error);
  if (error.status === 429)
    return 'Too many text messages were sent to your phone. Wait a while, then log in again.';
  if (error.status === 503)
    return 'The text message with your passcode could not be sent. Try again in a few minutes.';
  return error.message;
}

function SignInPage({
  ctx,
  username,
  error,
  passkeys,
}: {
  ctx: PageContext;
  username?: string;
  error?: string | undefined;
  /** Offer "Log In with a Passkey" (the public URL is a name, not an IP address). */
  passkeys: boolean;
}) {
  return (
    <Layout ctx={ctx} title="Log in" width="narrow">
      <Card>
        <h1>Log in</h1>
        {error ? <Banner tone="error">{error}</Banner> : null}
        <PostForm ctx={ctx} action="/sign-in">
          <TextField
            name="username"
            label="Username"
            autoComplete="username"
            value={username}
            required
            maxLength={255}
            autoFocus={!username}
            spellcheck={false}
          />
          <TextField
            name="password"
            label="Password"
            type="password"
            autoComplete="current-password"
            required
            maxLength={1024}
            autoFocus={Boolean(username)}
          />
          <Button>Log In</Button>
        </PostForm>
        {passkeys ? (
          <PostForm ctx={ctx} action="/sign-in/with-passkey" class="secondary-form">
            <p class="hint">Have a passkey or security key? No password needed.</p>
            <Button kind="secondary">Log In with a Passkey</Button>
          </PostForm>
        ) : null}
      </Card>
    </Layout>
  );
}

/** Where the passcode comes from, as the seeds say it. */
function PasscodeSource({ pending }: { pending: PendingSignIn }) {
  if (pending.factor === 'SMS' && pending.smsNotSent !== undefined) return <p>{pending.smsNotSent}</p>;
  if (pending.factor === 'SMS') {
    return (
      <p>
        We sent a text message with a 7-digit passcode to <strong>{pending.sentTo ?? 'your phone'}</strong>.
        It is valid for 10 minutes.
      </p>
    );
  }
  return (
    <p>Open the authenticator app on your device and enter the 6-digit passcode it shows for Latchkey.</p>
  );
}

function PasscodePage({
  ctx,
  pending,
  error,
}: {
  ctx: PageContext;
  pending: PendingSignIn;
  error?: string | undefined;
}) {
  return (
    <Layout ctx={ctx} title="Enter your passcode" width="narrow">
      <Card>
        <h1>Enter your passcode</h1>
        <PasscodeSource pending={pending} />
        <PostForm ctx={ctx} action="/sign-in/passcode">
          <CodeField
            name="passcode"
            label="Passcode"
            hint="A bypass code, or a temporary code from your administrator, works here too."
            error={error}
            required
            maxLength={64}
            autoFocus
          />
          <Button>Verify Code</Button>
        </PostForm>
        {pending.factor === 'SMS' ? (
          <PostForm ctx={ctx} action="/sign-in/passcode/resend" class="secondary-form">
            <p class="hint">Did not get the text message?</p>
            <Button kind="secondary">Resend Code</Button>
          </PostForm>
        ) : null}
        <p class="start-over">
          <a href="/sign-in">Log in as someone else</a>
        </p>
      </Card>
    </Layout>
  );
}

function sourceOf(request: FastifyRequest): string | null {
  return request.ip ?? null;
}

/** The end of a successful login: a token becomes the session; a challenge, the passcode page. */
async function afterLogin(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
  result: LoginResult,
): Promise<FastifyReply> {
  // Required to have MFA and has none (seed 000 "Configure multi-factor authentication during
  // account log in"): a SETUP-MFA token, which only the forced setup pages accept.
  if (result.kind === 'must-set-up-mfa') return afterLogin(deps, request, reply, await result.setUp());
  if (result.kind === 'challenge') {
    const passkey = result.passkey !== undefined && passkeysHere(deps, request);
    setPendingSignIn(deps, request, reply, {
      sessionId: result.sessionId,
      factor: result.factor,
      ...(result.sentTo === undefined ? {} : { sentTo: result.sentTo }),
      ...(result.smsNotSent === undefined ? {} : { smsNotSent: result.smsNotSent.message }),
      ...(passkey ? { passkey: true } : {}),
    });
    return reply.redirect(passkey ? '/sign-in/passkey' : '/sign-in/passcode', 303);
  }
  clearPendingSignIn(request, reply);
  startSession(deps, request, reply, result.token);
  // The passcode one last time: a session that can only add a passkey.
  if (result.token.scope === 'ADD-PASSKEY') setFlash(request, reply, 'info', ADD_PASSKEY_NOW);
  return reply.redirect(homeOf(result.token), 303);
}

/** The pending sign-in, or a redirect to the sign-in page saying it expired. */
function pendingOrRestart(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
): PendingSignIn | undefined {
  const pending = readPendingSignIn(deps, request);
  if (pending && pending.expiresAt > deps.clock.now()) return pending;
  clearPendingSignIn(request, reply);
  setFlash(request, reply, 'info', EXPIRED_SIGN_IN);
  return undefined;
}

export function registerSignInRoutes(app: FastifyInstance, deps: Deps): void {
  // Only for browsers: other clients of `/` get Identity's version list (see app.ts).
  app.get('/', { constraints: { page: 'html' } }, async (request, reply) => {
    const found = await lookupSession(deps, request, 'any');
    if (found.kind === 'live') return reply.redirect(homeOf(found.session), 303);
    if (found.kind === 'ended') {
      endSession(request, reply);
      setFlash(request, reply, found.flash.tone, found.flash.text);
    }
    return reply.redirect('/sign-in', 303);
  });

  app.get('/sign-in', async (request, reply) => {
    const found = await lookupSession(deps, request, 'any');
    if (found.kind === 'live') return reply.redirect(homeOf(found.session), 303);
    if (found.kind === 'ended') {
      endSession(request, reply);
      setFlash(request, reply, found.flash.tone, found.flash.text);
      return reply.redirect('/sign-in', 303);
    }
    return sendPage(
      reply,
      <SignInPage ctx={pageContext(request, reply)} passkeys={passkeysHere(deps, request)} />,
    );
  });

  app.post('/sign-in', async (request, reply) => {
    const form = PostedForm.of(request);
    const username = form.text('username', 255).trim();
    const password = form.text('password', 1024);
    const again = (error: string, status: number) =>
      sendPage(
        reply,
        <SignInPage
          ctx={pageContext(request, reply)}
          username={username}
          error={error}
          passkeys={passkeysHere(deps, request)}
        />,
        status,
      );
    if (username === '' || password === '') return again('Enter your username and password.', 400);
    const credentials = { type: 'password' as const, username, password };
    try {
      return await afterLogin(
        deps,
        request,
        reply,
        await login(deps, {
          credentials,
          scope: null,
          source: sourceOf(request),
          panel: true,
          passkeyPrompt: passkeysHere(deps, request),
        }),
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return again(signInErrorText(deps, error), error.status);
    }
  });

  app.get('/sign-in/passcode', async (request, reply) => {
    const pending = pendingOrRestart(deps, request, reply);
    if (!pending) return reply.redirect('/sign-in', 303);
    return sendPage(reply, <PasscodePage ctx={pageContext(request, reply)} pending={pending} />);
  });

  app.post('/sign-in/passcode', async (request, reply) => {
    const pending = pendingOrRestart(deps, request, reply);
    if (!pending) return reply.redirect('/sign-in', 303);
    // Spaces are how people copy codes ("123 456"); they are never part of one.
    const passcode = PostedForm.of(request).text('passcode', 64).replace(/\s+/g, '');
    const again = (error: string, status: number) =>
      sendPage(
        reply,
        <PasscodePage ctx={pageContext(request, reply)} pending={pending} error={error} />,
        status,
      );
    if (passcode === '') return again('Enter the passcode.', 400);
    try {
      const result = await login(deps, {
        credentials: { type: 'passcode', sessionIds: [pending.sessionId], passcode },
        scope: null,
        source: sourceOf(request),
        panel: true,
      });
      return await afterLogin(deps, request, reply, result);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const restart = (tone: 'info' | 'error', text: string) => {
        clearPendingSignIn(request, reply);
        setFlash(request, reply, tone, text);
        return reply.redirect('/sign-in', 303);
      };
      if (error.reason === 'locked') return restart('error', lockedMessage(deps));
      if (error.reason === 'passkeys-only') return restart('error', PASSKEY_REQUIRED);
      if (error instanceof SourceLimitReached) return again(sourceLimitText(error), error.status);
      if (error.fault === 'userDisabled') return restart('error', signInErrorText(deps, error));
      // A wrong passcode and a spent session answer alike over the API; their reasons differ.
      if (error.reason === 'session-expired' || error.reason === 'session-rejected')
        return restart('info', EXPIRED_SIGN_IN);
      const resend = pending.factor === 'SMS' ? ', or choose Resend Code to get a new one' : '';
      return again(
        `The passcode is incorrect or has expired. Check it and try again${resend}.`,
        error.status,
      );
    }
  });

  app.post('/sign-in/passcode/resend', async (request, reply) => {
    const pending = pendingOrRestart(deps, request, reply);
    if (!pending) return reply.redirect('/sign-in', 303);
    try {
      const { sentTo } = await resendChallengePasscode(deps, pending.sessionId, sourceOf(request));
      setPendingSignIn(deps, request, reply, {
        sessionId: pending.sessionId,
        factor: pending.factor,
        sentTo,
      });
      setFlash(request, reply, 'success', `A new passcode was sent to ${sentTo}.`);
      return reply.redirect('/sign-in/passcode', 303);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 401 || error.fault === 'userDisabled') {
        clearPendingSignIn(request, reply);
        setFlash(request, reply, 'error', error.reason === 'locked' ? lockedMessage(deps) : EXPIRED_SIGN_IN);
        return reply.redirect('/sign-in', 303);
      }
      return sendPage(
        reply,
        <PasscodePage
          ctx={pageContext(request, reply)}
          pending={pending}
          error={signInErrorText(deps, error)}
        />,
        error.status,
      );
    }
  });

  registerPasskeySignInRoutes(app, deps);

  app.post('/sign-out', async (request, reply) => {
    const found = await lookupSession(deps, request, 'any');
    if (found.kind === 'live') {
      const { session } = found;
      await revokeToken(deps, session.token, session, session.user, 'signed out');
    }
    endSession(request, reply);
    setFlash(request, reply, 'info', 'You have logged out.');
    return reply.redirect('/sign-in', 303);
  });
}

const PASSKEY_NOT_ACCEPTED =
  'That passkey or security key was not accepted. Try again, or use another method.';

/** Step 2 for a user whose default is a passkey (the password is done). */
function PasskeyStepPage({
  ctx,
  options,
  another,
  error,
}: {
  ctx: PageContext;
  options: unknown;
  /** Offer a passcode instead (not where the account requires passkeys). */
  another: boolean;
  error?: string | undefined;
}) {
  return (
    <Layout ctx={ctx} title="Use your passkey or security key" width="narrow">
      <Card>
        <h1>Use your passkey or security key</h1>
        {error ? <Banner tone="error">{error}</Banner> : null}
        <p>Choose the button, then follow your browser: unlock your passkey, or touch your security key.</p>
        <PasskeyPrompt
          ctx={ctx}
          action="/sign-in/passkey"
          ceremony="authenticate"
          options={options}
          label="Use Your Passkey or Security Key"
        />
        {another ? (
          <PostForm ctx={ctx} action="/sign-in/passkey/another" class="secondary-form">
            <p class="hint">
              No passkey with you? An authenticator code, a text message, or a bypass code works too.
            </p>
            <Button kind="secondary">Use Another Method</Button>
          </PostForm>
        ) : (
          <p class="hint">
            Your account requires a passkey or security key. Lost yours? Contact your account administrator.
          </p>
        )}
        <p class="start-over">
          <a href="/sign-in">Log in as someone else</a>
        </p>
      </Card>
    </Layout>
  );
}

/** The sign-in with a passkey alone: a discoverable credential, verified on the device. */
function PasskeyAlonePage({
  ctx,
  options,
  error,
}: {
  ctx: PageContext;
  options: unknown;
  error?: string | undefined;
}) {
  return (
    <Layout ctx={ctx} title="Log in with a passkey" width="narrow">
      <Card>
        <h1>Log in with a passkey</h1>
        {error ? <Banner tone="error">{error}</Banner> : null}
        <p>Choose the button, then pick your passkey and unlock it (fingerprint, face or PIN).</p>
        <PasskeyPrompt
          ctx={ctx}
          action="/sign-in/with-passkey/verify"
          ceremony="authenticate"
          options={options}
          label="Use Your Passkey or Security Key"
        />
        <p class="start-over">
          <a href="/sign-in">Log in with a username and password</a>
        </p>
      </Card>
    </Layout>
  );
}

function registerPasskeySignInRoutes(app: FastifyInstance, deps: Deps): void {
  const restart = (request: FastifyRequest, reply: FastifyReply, tone: 'info' | 'error', text: string) => {
    clearPendingSignIn(request, reply);
    setFlash(request, reply, tone, text);
    return reply.redirect('/sign-in', 303);
  };

  /** The passkey page with a fresh challenge, or the passcode page if no passkey can answer. */
  async function passkeyStep(
    request: FastifyRequest,
    reply: FastifyReply,
    pending: PendingSignIn,
    error?: string,
  ): Promise<FastifyReply> {
    const session = await findMfaSession(deps, pending.sessionId);
    if (session.state !== 'live') return restart(request, reply, 'info', EXPIRED_SIGN_IN);
    try {
      const options = await startPasskeyAuthentication(deps, session.userId, sourceOf(request));
      return sendPage(
        reply,
        <PasskeyStepPage
          ctx={pageContext(request, reply)}
          options={options}
          another={!(await passkeysRequiredOf(deps.db, session.userId))}
          error={error}
        />,
        error ? 401 : 200,
      );
    } catch (failure) {
      if (!(failure instanceof ApiError) || failure.reason !== 'no-passkey') throw failure;
      return reply.redirect('/sign-in/passcode', 303);
    }
  }

  app.get('/sign-in/passkey', async (request, reply) => {
    const pending = pendingOrRestart(deps, request, reply);
    if (!pending) return reply.redirect('/sign-in', 303);
    if (!pending.passkey) return reply.redirect('/sign-in/passcode', 303);
    return passkeyStep(request, reply, pending);
  });

  app.post('/sign-in/passkey', async (request, reply) => {
    const pending = pendingOrRestart(deps, request, reply);
    if (!pending) return reply.redirect('/sign-in', 303);
    try {
      const response = parseAuthenticationResponse(
        PostedForm.of(request).text('response', MAX_RESPONSE_FIELD),
      );
      const result = await login(deps, {
        credentials: { type: 'passkey', sessionIds: [pending.sessionId], response },
        scope: null,
        source: sourceOf(request),
        panel: true,
      });
      return afterLogin(deps, request, reply, result);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.reason === 'locked') return restart(request, reply, 'error', lockedMessage(deps));
      if (error.fault === 'userDisabled')
        return restart(request, reply, 'error', signInErrorText(deps, error));
      if (error.reason === 'session-expired' || error.reason === 'session-rejected')
        return restart(request, reply, 'info', EXPIRED_SIGN_IN);
      const text = error instanceof SourceLimitReached ? sourceLimitText(error) : PASSKEY_NOT_ACCEPTED;
      return passkeyStep(request, reply, pending, text);
    }
  });

  app.post('/sign-in/passkey/another', async (request, reply) => {
    const pending = pendingOrRestart(deps, request, reply);
    if (!pending) return reply.redirect('/sign-in', 303);
    const next: Omit<PendingSignIn, 'expiresAt'> = { sessionId: pending.sessionId, factor: pending.factor };
    if (pending.factor === 'SMS' && pending.sentTo === undefined) {
      // The text goes only now that the user asked for another method.
      try {
        next.sentTo = (await resendChallengePasscode(deps, pending.sessionId, sourceOf(request))).sentTo;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        if (error.status === 401 || error.fault === 'userDisabled')
          return restart(
            request,
            reply,
            'error',
            error.reason === 'locked' ? lockedMessage(deps) : EXPIRED_SIGN_IN,
          );
        next.smsNotSent = signInErrorText(deps, error);
      }
    }
    setPendingSignIn(deps, request, reply, next);
    return reply.redirect('/sign-in/passcode', 303);
  });

  /**
   * The page every sign-in with a passkey alone starts with, the same for every browser but for
   * its CSRF token and challenge: rendered once (and again only if the options change).
   */
  const promptPage = new PageTemplate<'csrfToken' | 'challenge'>();

  app.post('/sign-in/with-passkey', async (request, reply) => {
    if (!passkeysHere(deps, request)) return reply.redirect('/sign-in', 303);
    const options = await startPasskeyAuthentication(deps, null, sourceOf(request));
    const ctx = pageContext(request, reply);
    // A page with a flash message (none on the way here from the sign-in page) is rendered whole.
    if (ctx.flash !== undefined) return sendPage(reply, <PasskeyAlonePage ctx={ctx} options={options} />);
    const { challenge, ...shape } = options;
    // The challenge stands inside the options' JSON: escaped for JSON first, as a whole render does.
    const values = { csrfToken: ctx.csrfToken, challenge: JSON.stringify(challenge).slice(1, -1) };
    const page = promptPage.fill(JSON.stringify(shape), values, (marker) => (
      <PasskeyAlonePage
        ctx={{ ...ctx, csrfToken: marker('csrfToken') }}
        options={{ ...options, challenge: marker('challenge') }}
      />
    ));
    return sendPage(reply, page);
  });

  app.post('/sign-in/with-passkey/verify', async (request, reply) => {
    try {
      const response = parseAuthenticationResponse(
        PostedForm.of(request).text('response', MAX_RESPONSE_FIELD),
      );
      const result = await login(deps, {
        credentials: { type: 'passkeyAlone', response },
        scope: null,
        source: sourceOf(request),
        panel: true,
      });
      return afterLogin(deps, request, reply, result);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const text =
        error.reason === 'locked'
          ? lockedMessage(deps)
          : error.fault === 'userDisabled' || error instanceof SourceLimitReached
            ? signInErrorText(deps, error)
            : PASSKEY_NOT_ACCEPTED.replace(', or use another method', ', or log in with your password');
      const options = await startPasskeyAuthentication(deps, null, sourceOf(request));
      return sendPage(
        reply,
        <PasskeyAlonePage ctx={pageContext(request, reply)} options={options} error={text} />,
        error.status,
      );
    }
  });
}

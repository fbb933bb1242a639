import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { VNode } from 'preact';
import { changeOwnPassword, confirmOwnPassword } from '../../auth/password-change.js';
import { ApiError } from '../../core/errors.js';
import { readApiKey, resetApiKey } from '../../identity/api-keys.js';
import { PASSWORD_POLICY_MESSAGE } from '../../identity/passwords.js';
import type { Deps } from '../../services/deps.js';
import {
  Actions,
  Button,
  ButtonLink,
  ConfirmForm,
  PostForm,
  SecretToCopy,
  TextField,
} from '../components.js';
import { CardPage } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { endSession, type PanelSession, setFlash, withSession } from '../session.js';

const PROFILE = 'My Profile & Settings';

/** How a refused current password reads: a wrong one, or the login's lock and limits as they say. */
function currentPasswordText(error: ApiError): string | undefined {
  // A locked password reads as a wrong one, as it does at Log In.
  if (error.reason === 'bad-credentials' || error.reason === 'password-locked')
    return 'The password is incorrect.';
  return error.status === 401 || error.status === 403 || error.status === 429 ? error.message : undefined;
}

/** The policy and history of new passwords, as the domain applies them. */
function newPasswordHint(deps: Deps): string {
  const count = deps.config.passwordHistory;
  if (count === 0) return PASSWORD_POLICY_MESSAGE;
  const history =
    count === 1
      ? 'It must differ from your current password.'
      : `It must differ from your last ${count} passwords.`;
  return `${PASSWORD_POLICY_MESSAGE} ${history}`;
}

interface PasswordErrors {
  current?: string | undefined;
  next?: string | undefined;
  again?: string | undefined;
}

function ChangePasswordPage({
  ctx,
  hint,
  errors,
}: {
  ctx: PageContext;
  hint: string;
  errors: PasswordErrors;
}) {
  return (
    <CardPage ctx={ctx} lead={PROFILE} title="Change Password">
      <p>Changing your password logs you out everywhere: every session and token of yours ends.</p>
      <PostForm ctx={ctx} action="/profile/password">
        <TextField
          name="current"
          label="Current password"
          type="password"
          autoComplete="current-password"
          error={errors.current}
          required
          maxLength={256}
        />
        <TextField
          name="password"
          label="New password"
          type="password"
          autoComplete="new-password"
          hint={hint}
          error={errors.next}
          required
          maxLength={256}
        />
        <TextField
          name="confirm"
          label="New password again"
          type="password"
          autoComplete="new-password"
          error={errors.again}
          required
          maxLength={256}
        />
        <Actions>
          <Button>Change Password</Button>
          <ButtonLink href="/profile">Cancel</ButtonLink>
        </Actions>
      </PostForm>
    </CardPage>
  );
}

/** The signed-in user's own password, asked again before its API key is shown or reset. */
function OwnPasswordField({ error }: { error: string | undefined }) {
  return (
    <TextField
      name="password"
      label="Password"
      type="password"
      autoComplete="current-password"
      error={error}
      required
      maxLength={256}
    />
  );
}

/** The password prompt before the API key is shown or reset. */
function ApiKeyPasswordPage({ ctx, error }: { ctx: PageContext; error?: string | undefined }) {
  return (
    <CardPage ctx={ctx} lead={PROFILE} title="API Key">
      <p>
        Your API key logs in to the API in place of your password. Enter your password to show it: anyone who
        has the key can act as you.
      </p>
      <PostForm ctx={ctx} action="/profile/api-key">
        <OwnPasswordField error={error} />
        <Actions>
          <Button>Show API Key</Button>
          <ButtonLink href="/profile">Cancel</ButtonLink>
        </Actions>
      </PostForm>
    </CardPage>
  );
}

function ApiKeyPage({ ctx, apiKey, isNew }: { ctx: PageContext; apiKey: string; isNew: boolean }) {
  return (
    <CardPage ctx={ctx} lead={PROFILE} title="API Key">
      <p>
        {isNew
          ? 'This is your new API key. The old one no longer logs in; tokens it already gave stay valid until they expire.'
          : 'This is your API key. Keep it as you keep your password.'}
      </p>
      <SecretToCopy id="api-key" secret={apiKey} copyLabel="Copy API Key" />
      <Actions>
        <ButtonLink href="/profile/api-key/reset">Reset API Key</ButtonLink>
        <ButtonLink href="/profile">Back to My Profile & Settings</ButtonLink>
      </Actions>
    </CardPage>
  );
}

function ResetApiKeyPage({ ctx, error }: { ctx: PageContext; error?: string | undefined }) {
  return (
    <CardPage ctx={ctx} lead={PROFILE} title="Reset API Key?">
      <p>
        A new API key replaces the one you have: a script or tool that logs in with the old key stops working
        until you give it the new one. Tokens already given stay valid until they expire.
      </p>
      <ConfirmForm ctx={ctx} action="/profile/api-key/reset" confirm="Reset API Key" cancel="/profile">
        <OwnPasswordField error={error} />
      </ConfirmForm>
    </CardPage>
  );
}

/** Checks the posted password: undefined when right, or the refusal the form shows. */
async function passwordRefusal(
  deps: Deps,
  session: PanelSession,
  password: string,
): Promise<{ text: string; status: number } | undefined> {
  if (password === '') return { text: 'Enter your password.', status: 400 };
  try {
    await confirmOwnPassword(deps, session, password);
    return undefined;
  } catch (error) {
    const text = error instanceof ApiError ? currentPasswordText(error) : undefined;
    if (text === undefined || !(error instanceof ApiError)) throw error;
    return { text, status: error.status };
  }
}

export function registerCredentialRoutes(app: FastifyInstance, deps: Deps): void {
  const showPasswordForm = (
    request: FastifyRequest,
    reply: FastifyReply,
    session: PanelSession,
    errors: PasswordErrors = {},
    status = 200,
  ) =>
    sendPage(
      reply,
      <ChangePasswordPage
        ctx={pageContext(request, reply, session)}
        hint={newPasswordHint(deps)}
        errors={errors}
      />,
      status,
    );

  app.get(
    '/profile/password',
    withSession(deps, 'full', async (request, reply, session) => showPasswordForm(request, reply, session)),
  );

  app.post(
    '/profile/password',
    withSession(deps, 'full', async (request, reply, session) => {
      const form = PostedForm.of(request);
      const current = form.text('current', 1024);
      const password = form.text('password', 1024);
      const confirm = form.text('confirm', 1024);
      const errors: PasswordErrors = {
        current: current === '' ? 'Enter your current password.' : undefined,
        next: password === '' ? 'Enter a new password.' : undefined,
        again: password !== confirm ? 'The two new passwords differ: enter the same one twice.' : undefined,
      };
      if (errors.current || errors.next || errors.again)
        return showPasswordForm(request, reply, session, errors, 400);
      try {
        await changeOwnPassword(deps, session, session.user.id, current, password);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const currentText = currentPasswordText(error);
        if (currentText !== undefined)
          return showPasswordForm(request, reply, session, { current: currentText }, error.status);
        // The policy and history refusals of the new password, in the domain's words.
        if (error.status !== 400) throw error;
        return showPasswordForm(request, reply, session, { next: error.message }, 400);
      }
      // The change revoked every token of the user, the session's own among them (as the API's).
      endSession(request, reply);
      setFlash(
        request,
        reply,
        'success',
        'Your password is changed, and every session and token of yours has ended. Log in again with your new password.',
      );
      return reply.redirect('/sign-in', 303);
    }),
  );

  /**
   * A page whose form asks for the password (GET), and what it does once the password is right
   * (POST): the page again with the refusal, or the API key `reveal` gives.
   */
  const behindPassword = (
    path: string,
    Form: (props: { ctx: PageContext; error?: string | undefined }) => VNode,
    reveal: (session: PanelSession) => Promise<{ apiKey: string; isNew: boolean }>,
  ) => {
    app.get(
      path,
      withSession(deps, 'full', async (request, reply, session) =>
        sendPage(reply, <Form ctx={pageContext(request, reply, session)} />),
      ),
    );
    app.post(
      path,
      withSession(deps, 'full', async (request, reply, session) => {
        const refused = await passwordRefusal(deps, session, PostedForm.of(request).text('password', 1024));
        const ctx = pageContext(request, reply, session);
        if (refused) return sendPage(reply, <Form ctx={ctx} error={refused.text} />, refused.status);
        const { apiKey, isNew } = await reveal(session);
        return sendPage(reply, <ApiKeyPage ctx={ctx} apiKey={apiKey} isNew={isNew} />);
      }),
    );
  };

  behindPassword('/profile/api-key', ApiKeyPasswordPage, async (session) => ({
    apiKey: await readApiKey(deps, session.user.id),
    isNew: false,
  }));
  behindPassword('/profile/api-key/reset', ResetApiKeyPage, async (session) => ({
    apiKey: await resetApiKey(deps, session.user.id, session.source, session.user),
    isNew: true,
  }));
}

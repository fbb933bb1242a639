import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { may } from '../../access/caller.js';
import { rolesGrantableBy } from '../../access/roles.js';
import { ApiError, type Reason } from '../../core/errors.js';
import { PASSWORD_POLICY_MESSAGE } from '../../identity/passwords.js';
import { createUser, type UserPatch, updateUser } from '../../identity/users.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import {
  Actions,
  Banner,
  Button,
  ButtonLink,
  Card,
  Checkbox,
  PostForm,
  SecretToCopy,
  SelectField,
  TextField,
} from '../components.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { type PanelSession, setFlash } from '../session.js';
import { AccountLayout, accountPath, targetOf, userPath, withAccount } from './admin-shared.js';
import { ROLE_LABELS } from './profile.js';

/** A refusal of the domain, on the field it is about (or, with no field, above the form). */
interface FormErrors {
  username?: string;
  email?: string;
  role?: string;
  password?: string;
  form?: string;
}

/** The field each reason of createUser and updateUser is about; any other refusal stands above the form. */
const FIELD_OF: Partial<Record<Reason, keyof FormErrors>> = {
  'username-invalid': 'username',
  'username-taken': 'username',
  'email-invalid': 'email',
  'password-weak': 'password',
  'role-not-grantable': 'role',
};

function errorsOf(error: ApiError): FormErrors {
  const field = (error.reason && FIELD_OF[error.reason]) ?? 'form';
  return { [field]: error.message };
}

/** The form's own refusals are the domain's 4xx; anything else is the error page's. */
function refusalOf(error: unknown): ApiError {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return error;
  throw error;
}

const roleOptions = (session: PanelSession) =>
  rolesGrantableBy(session.user.role).map((role) => ({ value: role, label: ROLE_LABELS[role] ?? role }));

interface NewUserDraft {
  username: string;
  email: string;
  role: string;
  enabled: boolean;
}

/** Email and role, as Create User and Edit User ask them; `roles` undefined: the role is not the user's to change. */
function EmailAndRole({
  email,
  roles,
  role,
  errors,
}: {
  email: string | undefined;
  roles: { value: string; label: string }[] | undefined;
  role: string | undefined;
  errors: FormErrors;
}) {
  return (
    <>
      <TextField
        name="email"
        label="Email"
        type="email"
        autoComplete="off"
        value={email}
        error={errors.email}
        maxLength={255}
      />
      {roles ? (
        <SelectField
          name="role"
          label="Role"
          options={roles}
          value={role}
          hint={errors.role ?? 'The roles you may give.'}
        />
      ) : (
        <p>
          Role: {ROLE_LABELS[role ?? ''] ?? role}
          {errors.role ? <span class="hint"> {errors.role}</span> : null}
        </p>
      )}
    </>
  );
}

function CreateUserPage({
  ctx,
  account,
  roles,
  draft,
  errors = {},
  newAccount,
}: {
  ctx: PageContext;
  account: DomainRow;
  roles: { value: string; label: string }[];
  draft?: NewUserDraft;
  errors?: FormErrors;
  /** The role given makes the user the owner of an account of its own. */
  newAccount: boolean;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="users" title="Create User">
      <Card>
        {errors.form ? <Banner tone="error">{errors.form}</Banner> : null}
        {newAccount ? (
          <p>The new user is the owner of a new account of its own, not a user of this one.</p>
        ) : (
          <p>The new user belongs to this account.</p>
        )}
        <PostForm ctx={ctx} action={accountPath(account.id, '/users/new')}>
          <TextField
            name="username"
            label="Username"
            autoComplete="off"
            spellcheck={false}
            value={draft?.username}
            error={errors.username}
            required
            maxLength={100}
          />
          <EmailAndRole email={draft?.email} roles={roles} role={draft?.role} errors={errors} />
          <Checkbox
            name="enabled"
            label="Enabled"
            checked={draft?.enabled ?? true}
            hint="A disabled user cannot log in until enabled."
          />
          <TextField
            name="password"
            label="Password"
            type="password"
            autoComplete="new-password"
            hint={`Leave it empty to have a password generated, shown once on the next page. ${PASSWORD_POLICY_MESSAGE}`}
            error={errors.password}
            maxLength={256}
          />
          <Actions>
            <Button>Create User</Button>
            <ButtonLink href={accountPath(account.id, '/users')}>Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </AccountLayout>
  );
}

function CreatedUserPage({
  ctx,
  account,
  user,
  password,
}: {
  ctx: PageContext;
  account: DomainRow;
  user: UserView;
  password: string;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="users" title="User Created">
      <Card>
        <p>
          The user <strong>{user.username}</strong> is created. Its password was generated: give it to the
          user now. It is shown only this once.
        </p>
        <SecretToCopy id="new-password" secret={password} copyLabel="Copy Password" />
        <Actions>
          <ButtonLink href={userPath(user.domain_id ?? account.id, user.id)} kind="primary">
            Go to the User
          </ButtonLink>
        </Actions>
      </Card>
    </AccountLayout>
  );
}

/** What Edit User changes, shown only where the signed-in user may change it. */
interface Editable {
  roles: { value: string; label: string }[] | undefined;
  enabled: boolean;
}

function editableOf(session: PanelSession, target: UserView): Editable {
  const roles = roleOptions(session).filter((option) =>
    may(session, { kind: 'user.set-role', target, role: option.value }),
  );
  return {
    roles: roles.length > 0 ? roles : undefined,
    enabled: may(session, { kind: 'user.set-enabled', target }),
  };
}

function EditUserPage({
  ctx,
  account,
  target,
  editable,
  errors = {},
  email,
}: {
  ctx: PageContext;
  account: DomainRow;
  target: UserView;
  editable: Editable;
  errors?: FormErrors;
  email?: string;
}) {
  return (
    <AccountLayout ctx={ctx} account={account} tab="users" title={`Edit User ${target.username}`}>
      <Card>
        {errors.form ? <Banner tone="error">{errors.form}</Banner> : null}
        <PostForm ctx={ctx} action={userPath(account.id, target.id, '/edit')}>
          <EmailAndRole
            email={email ?? target.email ?? ''}
            roles={editable.roles}
            role={target.role}
            errors={errors}
          />
          {editable.enabled ? (
            <Checkbox
              name="enabled"
              label="Enabled"
              checked={target.enabled === 1}
              hint="Disabling logs the user out everywhere at once."
            />
          ) : null}
          <Actions>
            <Button>Save User</Button>
            <ButtonLink href={userPath(account.id, target.id)}>Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </AccountLayout>
  );
}

export function registerAdminUserFormRoutes(app: FastifyInstance, deps: Deps): void {
  const showCreate = (
    request: FastifyRequest,
    reply: FastifyReply,
    session: PanelSession,
    account: DomainRow,
    draft?: NewUserDraft,
    errors?: FormErrors,
    status = 200,
  ) => {
    const roles = roleOptions(session);
    return sendPage(
      reply,
      <CreateUserPage
        ctx={pageContext(request, reply, session)}
        account={account}
        roles={roles}
        draft={draft}
        errors={errors}
        newAccount={roles.some((role) => role.value === 'identity:user-admin')}
      />,
      status,
    );
  };

  app.get(
    '/admin/accounts/:domainId/users/new',
    withAccount(deps, async (request, reply, { session, account }) =>
      showCreate(request, reply, session, account),
    ),
  );

  app.post(
    '/admin/accounts/:domainId/users/new',
    withAccount(deps, async (request, reply, { session, account }) => {
      const form = PostedForm.of(request);
      const draft: NewUserDraft = {
        username: form.text('username', 256).trim(),
        email: form.text('email', 512).trim(),
        role: form.text('role', 64),
        enabled: form.checked('enabled'),
      };
      const password = form.text('password', 1024);
      let created: Awaited<ReturnType<typeof createUser>>;
      try {
        created = await createUser(deps, session, {
          username: draft.username,
          role: draft.role,
          enabled: draft.enabled,
          ...(draft.email === '' ? {} : { email: draft.email }),
          ...(password === '' ? {} : { password }),
        });
      } catch (error) {
        const refusal = refusalOf(error);
        return showCreate(request, reply, session, account, draft, errorsOf(refusal), refusal.status);
      }
      const { user, generatedPassword } = created;
      if (generatedPassword !== undefined)
        return sendPage(
          reply,
          <CreatedUserPage
            ctx={pageContext(request, reply, session)}
            account={account}
            user={user}
            password={generatedPassword}
          />,
        );
      setFlash(request, reply, 'success', `The user ${user.username} is created.`);
      return reply.redirect(userPath(user.domain_id ?? account.id, user.id), 303);
    }),
  );

  const showEdit = (
    request: FastifyRequest,
    reply: FastifyReply,
    { session, account }: { session: PanelSession; account: DomainRow },
    target: UserView,
    refused?: { refusal: ApiError; email: string },
  ) =>
    sendPage(
      reply,
      <EditUserPage
        ctx={pageContext(request, reply, session)}
        account={account}
        target={target}
        editable={editableOf(session, target)}
        {...(refused ? { errors: errorsOf(refused.refusal), email: refused.email } : {})}
      />,
      refused?.refusal.status ?? 200,
    );

  app.get(
    '/admin/accounts/:domainId/users/:userId/edit',
    withAccount(deps, async (request, reply, page) =>
      showEdit(request, reply, page, await targetOf(deps, request, page.session, page.account)),
    ),
  );

  app.post(
    '/admin/accounts/:domainId/users/:userId/edit',
    withAccount(deps, async (request, reply, { session, account }) => {
      const target = await targetOf(deps, request, session, account);
      const editable = editableOf(session, target);
      const form = PostedForm.of(request);
      const email = form.text('email', 512).trim();
      const role = form.text('role', 64);
      const patch: UserPatch = {
        // An empty field leaves a user without email as it is; the domain refuses an empty one.
        ...(email === '' && target.email === null ? {} : { email }),
        // A role is posted by the form only where it may be changed; a forged one meets the domain.
        ...(role === '' ? {} : { role }),
        ...(editable.enabled ? { enabled: form.checked('enabled') } : {}),
      };
      try {
        await updateUser(deps, session, target.id, patch);
      } catch (error) {
        return showEdit(request, reply, { session, account }, target, { refusal: refusalOf(error), email });
      }
      setFlash(request, reply, 'success', `The user ${target.username} is saved.`);
      return reply.redirect(userPath(account.id, target.id), 303);
    }),
  );
}

import { type Command, Option } from 'commander';
import type {
  TemporaryCodeResponse,
  UserRequest,
  UserResponse,
  UsersResponse,
  WireUser,
} from '../../http/v2/wire.js';
import { authorized } from '../client.js';
import { usageError } from '../failure.js';
import { fields, out, table } from '../output.js';
import { confirmOrYes, readStdinLine } from '../prompts.js';
import { requireSession } from '../session.js';
import { example, type GlobalOptions, globals, multiFactorPath, resolveUser } from './common.js';

function mfaColumn(user: WireUser): string {
  if (!user['RAX-AUTH:multiFactorEnabled']) return 'off';
  const factor = user['RAX-AUTH:factorType'] === 'OTP' ? 'authenticator' : 'sms';
  return user['RAX-AUTH:multiFactorState'] === 'LOCKED' ? `${factor}, LOCKED` : factor;
}

/** The password lock (latchkey's RAX-AUTH:passwordLockedUntil): absent while there is none. */
const isPasswordLocked = (user: WireUser): boolean => Object.hasOwn(user, 'RAX-AUTH:passwordLockedUntil');

function passwordColumn(user: WireUser): string {
  if (!isPasswordLocked(user)) return 'not locked';
  const until = user['RAX-AUTH:passwordLockedUntil'];
  const when = typeof until === 'string' ? `until ${until}` : 'until unlocked';
  return `LOCKED after too many wrong passwords, ${when} (latchkey users unlock ${user.username})`;
}

function showUser(user: WireUser): void {
  const pairs: [string, string][] = [
    ['username', user.username],
    ['id', user.id],
    ['email', user.email ?? ''],
    ['enabled', user.enabled ? 'yes' : 'no'],
    ['account', user['RAX-AUTH:domainId'] ?? '(none)'],
    ['password', passwordColumn(user)],
    ['MFA', mfaColumn(user)],
  ];
  const level = user['RAX-AUTH:userMultiFactorEnforcementLevel'];
  if (level) pairs.push(['MFA policy', `user level ${level}`]);
  pairs.push(['created', user.created], ['updated', user.updated]);
  fields(pairs);
}

type UserOptions = GlobalOptions & {
  email?: string;
  passwordStdin?: boolean;
  account?: string;
  region?: string;
  yes?: boolean;
};

/** Commander hands an action its arguments, then its options, then itself. */
const withRef =
  <R = string>(run: (ref: R, options: UserOptions) => Promise<void>) =>
  async (ref: R, _options: unknown, command: Command) =>
    run(ref, globals<UserOptions>(command));

async function setEnabled(ref: string, options: UserOptions, enabled: boolean): Promise<void> {
  const session = requireSession(options.url);
  const user = await resolveUser(session, ref, `could not ${enabled ? 'enable' : 'disable'} ${ref}`);
  const body: UserRequest = { user: { enabled } };
  const updated = (
    await authorized<UserResponse>(session, 'POST', `/v2.0/users/${user.id}`, `could not update ${ref}`, {
      body,
    })
  ).body.user;
  if (options.json) return out.json(updated);
  out.success(
    enabled
      ? `Enabled ${updated.username}.`
      : `Disabled ${updated.username}: every token of the user is revoked and logins are refused.`,
  );
}

export function registerUserCommands(program: Command): void {
  const users = example(
    program.command('users').description('administer users over the API (account owners and administrators)'),
    'latchkey users list',
  );

  example(
    users
      .command('list')
      .description('list the users you may see')
      .option('--email <email>', 'only users with this email address')
      .action(async (_options: unknown, command: Command) => {
        const options = globals<UserOptions>(command);
        const session = requireSession(options.url);
        const query = { email: options.email };
        const found = (
          await authorized<UsersResponse>(session, 'GET', '/v2.0/users', 'could not list users', { query })
        ).body.users;
        if (options.json) return out.json(found);
        table(
          ['USERNAME', 'ID', 'ENABLED', 'MFA', 'ACCOUNT'],
          found.map((user) => [
            user.username,
            user.id,
            `${user.enabled ? 'yes' : 'no'}${isPasswordLocked(user) ? ', password LOCKED' : ''}`,
            mfaColumn(user),
            user['RAX-AUTH:domainId'] ?? '',
          ]),
        );
      }),
    'latchkey users list',
  );

  example(
    users
      .command('show')
      .description('show one user')
      .argument('<user>', 'username or id')
      .action(
        withRef(async (ref, options) => {
          const user = await resolveUser(requireSession(options.url), ref, `could not show ${ref}`);
          if (options.json) return out.json(user);
          showUser(user);
        }),
      ),
    'latchkey users show bob',
  );

  example(
    users
      .command('create')
      .description('create a user; without a password the server makes one and it is shown once')
      .argument('[username]', 'the new username')
      .option('--email <email>', 'email address')
      .option('--password-stdin', 'read the password from the first line of standard input')
      .option('--account <id>', 'account (domain) id, for administrators creating an account owner in one')
      .option('--region <region>', 'default region')
      .addOption(new Option('--username <name>').hideHelp())
      .addOption(new Option('--password <password>').hideHelp())
      .action(
        withRef<string | undefined>(async (username, options) => {
          // The offline command of earlier versions: say where it went rather than "unknown option".
          if ('username' in options || 'password' in options) {
            throw usageError(
              "users create works over the API: 'latchkey users create NAME --email EMAIL'; to create an administrator in the database, use 'latchkey server create-user --username NAME' (it asks for the password, or reads it with --password-stdin)",
            );
          }
          if (username === undefined) throw usageError("missing required argument 'username'");
          const session = requireSession(options.url);
          const body: UserRequest = {
            user: {
              username,
              enabled: true,
              ...(options.email === undefined ? {} : { email: options.email }),
              ...(options.region === undefined ? {} : { 'RAX-AUTH:defaultRegion': options.region }),
              ...(options.account === undefined ? {} : { 'RAX-AUTH:domainId': options.account }),
            },
          };
          if (options.passwordStdin) body.user['OS-KSADM:password'] = await readStdinLine('the password');
          const created = (
            await authorized<UserResponse>(session, 'POST', '/v2.0/users', `could not create ${username}`, {
              body,
            })
          ).body.user;
          if (options.json) return out.json(created);
          out.success(
            `Created ${created.username} (id ${created.id}) in account ${created['RAX-AUTH:domainId'] ?? '(none)'}.`,
          );
          const generated = created['OS-KSADM:password'];
          if (generated) out.line(`Password (shown only now): ${out.bold(generated)}`);
        }),
      ),
    'latchkey users create bob --email bob@example.com',
    "printf '%s\\n' 'Bobpass12' | latchkey users create bob --email bob@example.com --password-stdin",
  );

  example(
    users
      .command('update')
      .description("change a user's email address or whether it may log in")
      .argument('<user>', 'username or id')
      .option('--email <email>', 'new email address')
      .addOption(new Option('--enabled', 'let the user log in again').conflicts('disabled'))
      .addOption(new Option('--disabled', 'refuse its logins and revoke every token of it'))
      .action(
        withRef(async (ref, options) => {
          const { email, enabled, disabled } = options as UserOptions & {
            enabled?: boolean;
            disabled?: boolean;
          };
          if (email === undefined && enabled === undefined && disabled === undefined) {
            throw usageError('nothing to update: give --email, --enabled or --disabled');
          }
          const session = requireSession(options.url);
          const user = await resolveUser(session, ref, `could not update ${ref}`);
          const body: UserRequest = {
            user: {
              ...(email === undefined ? {} : { email }),
              ...(enabled ? { enabled: true } : disabled ? { enabled: false } : {}),
            },
          };
          const updated = (
            await authorized<UserResponse>(
              session,
              'POST',
              `/v2.0/users/${user.id}`,
              `could not update ${ref}`,
              {
                body,
              },
            )
          ).body.user;
          if (options.json) return out.json(updated);
          out.success(`Updated ${updated.username}.`);
          if (disabled) out.line('Every token of the user is revoked and its logins are refused.');
          showUser(updated);
        }),
      ),
    'latchkey users update bob --email bob@example.org',
    'latchkey users update bob --disabled',
  );

  example(
    users
      .command('disable')
      .description('disable a user: revokes every token and refuses logins')
      .argument('<user>', 'username or id')
      .action(withRef((ref, options) => setEnabled(ref, options, false))),
    'latchkey users disable bob',
  );
  example(
    users
      .command('enable')
      .description('enable a disabled user')
      .argument('<user>', 'username or id')
      .action(withRef((ref, options) => setEnabled(ref, options, true))),
    'latchkey users enable bob',
  );

  example(
    users
      .command('delete')
      .description('delete a user for good')
      .argument('<user>', 'username or id')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(
        withRef(async (ref, options) => {
          const session = requireSession(options.url);
          const user = await resolveUser(session, ref, `could not delete ${ref}`);
          await confirmOrYes(`Delete ${user.username} (id ${user.id}) for good?`, options.yes);
          await authorized(session, 'DELETE', `/v2.0/users/${user.id}`, `could not delete ${ref}`);
          if (options.json) return out.json({ deleted: user.id });
          out.success(`Deleted ${user.username}.`);
        }),
      ),
    'latchkey users delete bob --yes',
  );

  example(
    users
      .command('unlock')
      .description('unlock a user locked out by wrong passcodes or password guessing')
      .argument('<user>', 'username or id')
      .action(
        withRef(async (ref, options) => {
          const session = requireSession(options.url);
          const user = await resolveUser(session, ref, `could not unlock ${ref}`);
          await authorized(session, 'PUT', multiFactorPath(user.id), `could not unlock ${ref}`, {
            body: { 'RAX-AUTH:multiFactor': { unlock: true } },
          });
          if (options.json) return out.json({ unlocked: user.id });
          out.success(`Unlocked ${user.username}: password and MFA logins work again.`);
        }),
      ),
    'latchkey users unlock bob',
  );

  example(
    users
      .command('send-temporary-code')
      .description("text a one-time 8-digit code, valid 5 minutes, to the user's verified phone")
      .argument('<user>', 'username or id')
      .action(
        withRef(async (ref, options) => {
          const session = requireSession(options.url);
          const user = await resolveUser(session, ref, `could not send a temporary code to ${ref}`);
          const sent = (
            await authorized<TemporaryCodeResponse>(
              session,
              'POST',
              `${multiFactorPath(user.id)}/temporary-code`,
              `could not send a temporary code to ${ref}`,
            )
          ).body['RAX-AUTH:temporaryCode'];
          if (options.json) return out.json(sent);
          out.success(`Temporary code sent to ${sent.sentTo}; it is valid until ${sent.expires}.`);
        }),
      ),
    'latchkey users send-temporary-code bob',
  );

  example(
    users
      .command('reset-mfa')
      .description("turn a user's MFA off and remove all of their devices")
      .argument('<user>', 'username or id')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(
        withRef(async (ref, options) => {
          const session = requireSession(options.url);
          const user = await resolveUser(session, ref, `could not reset MFA of ${ref}`);
          await confirmOrYes(`Remove every MFA device of ${user.username} and turn MFA off?`, options.yes);
          await authorized(session, 'DELETE', multiFactorPath(user.id), `could not reset MFA of ${ref}`);
          if (options.json) return out.json({ reset: user.id });
          out.success(`MFA of ${user.username} is off and their devices are removed.`);
        }),
      ),
    'latchkey users reset-mfa bob --yes',
  );
}

import type { Command } from 'commander';
import type { ApiKeyResponse, WireUser } from '../../http/v2/wire.js';
import { authorized, call, faultMessage, refusal } from '../client.js';
import { CliError, ExitCode, usageError } from '../failure.js';
import { out } from '../output.js';
import { askSecret, confirmOrYes, readStdinLines } from '../prompts.js';
import { loginCommand, removeSession, requireSession, type Session } from '../session.js';
import { example, type GlobalOptions, globals, resolveUser } from './common.js';

type CredentialOptions = GlobalOptions & { passwordStdin?: boolean; user?: string; yes?: boolean };

/** The user acted on: `--user` (an administrator's or account owner's), else oneself. */
async function targetOf(
  session: Session,
  ref: string | undefined,
  what: string,
): Promise<Pick<WireUser, 'id' | 'username'>> {
  if (ref === undefined) return { id: session.userId, username: session.username };
  return resolveUser(session, ref, what);
}

const apiKeyPath = (userId: string) =>
  `/v2.0/users/${userId}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`;

async function currentAndNew(options: CredentialOptions, username: string): Promise<[string, string]> {
  if (options.passwordStdin) {
    const [current, next] = await readStdinLines(['the current password', 'the new password']);
    return [current as string, next as string];
  }
  const instead = 'use --password-stdin (current password, then the new one, one a line)';
  const current = await askSecret(`Current password for ${username}:`, 'the current password', instead);
  const next = await askSecret('New password:', 'the new password', instead);
  const again = await askSecret('New password again:', 'the new password', instead);
  if (next !== again) throw usageError('the two new passwords differ: nothing was changed');
  return [current, next];
}

/**
 * Over Keystone's self-service change (`POST /v3/users/{id}/password`): the only operation that
 * proves the current password, judged and counted as a login judges it. Every token of the user is
 * revoked by it, the cached one included, so the cache goes too.
 */
async function changePassword(options: CredentialOptions): Promise<void> {
  const session = requireSession(options.url);
  const [current, next] = await currentAndNew(options, session.username);
  if (current === next) throw usageError('the new password is the current one: nothing was changed');
  const answer = await call(session.url, 'POST', `/v3/users/${session.userId}/password`, {
    token: session.token,
    body: { user: { original_password: current, password: next } },
  });
  const what = 'could not change the password';
  if (answer.status === 401) {
    const message = faultMessage(answer);
    // Keystone's 401 for a token it no longer accepts says nothing of credentials.
    if (/credentials/i.test(message)) {
      throw new CliError(`${what}: the current password is wrong (${message})`, ExitCode.badCredentials);
    }
  }
  if (answer.status !== 204) throw refusal(what, answer);
  removeSession();
  if (options.json) return out.json({ changed: true, username: session.username, tokensRevoked: true });
  out.success(`Changed the password of ${session.username}.`);
  out.line(`Every token of yours is revoked, this one too: log in again with '${loginCommand()}'.`);
}

async function showApiKey(options: CredentialOptions): Promise<void> {
  const session = requireSession(options.url);
  const what = 'could not read the API key';
  const user = await targetOf(session, options.user, what);
  const key = (await authorized<ApiKeyResponse>(session, 'GET', apiKeyPath(user.id), what)).body[
    'RAX-KSKEY:apiKeyCredentials'
  ];
  out.note(`Anyone with this key logs in as ${key.username} without MFA: keep it as you keep a password.`);
  if (options.json) return out.json(key);
  out.result(key.apiKey);
}

async function resetApiKey(options: CredentialOptions): Promise<void> {
  const session = requireSession(options.url);
  const what = 'could not reset the API key';
  const user = await targetOf(session, options.user, what);
  await confirmOrYes(
    `Replace the API key of ${user.username}? Whatever uses the current one stops logging in.`,
    options.yes,
  );
  const key = (
    await authorized<ApiKeyResponse>(session, 'POST', `${apiKeyPath(user.id)}/RAX-AUTH/reset`, what)
  ).body['RAX-KSKEY:apiKeyCredentials'];
  if (options.json) return out.json(key);
  out.success(`Reset the API key of ${key.username}; tokens already issued stay valid.`);
  out.result(key.apiKey);
}

const withOptions =
  (run: (options: CredentialOptions) => Promise<void>) => async (_options: unknown, command: Command) =>
    run(globals<CredentialOptions>(command));

export function registerCredentialCommands(program: Command): void {
  const password = example(
    program.command('password').description('your own password'),
    'latchkey password change',
  );
  example(
    password
      .command('change')
      .description('change your password: asks the current one and the new one twice')
      .option(
        '--password-stdin',
        'read the current password, then the new one, one a line, from standard input',
      )
      .addHelpText(
        'after',
        `
The new password must meet the server's policy (at least 8 characters with upper case, lower case
and a digit) and may not be one of your recent ones. Every token of yours is revoked, the cached
one too: log in again afterwards. Administrators set other users' passwords with the API.`,
      )
      .action(withOptions(changePassword)),
    'latchkey password change',
    'printf \'%s\\n%s\\n\' "$OLD" "$NEW" | latchkey password change --password-stdin',
  );

  const apiKey = example(
    program.command('api-key').description('your API key (it logs in without MFA: keep it secret)'),
    'latchkey api-key show',
  );
  example(
    apiKey
      .command('show')
      .description('print the API key')
      .option('--user <user>', "another user's (username or id), for administrators and account owners")
      .action(withOptions(showApiKey)),
    'latchkey api-key show',
    'latchkey api-key show --user bob',
  );
  example(
    apiKey
      .command('reset')
      .description('replace the API key with a new one and print it; the old one stops working')
      .option('--user <user>', "another user's (username or id), for administrators and account owners")
      .option('-y, --yes', 'do not ask for confirmation')
      .action(withOptions(resetApiKey)),
    'latchkey api-key reset',
    'latchkey api-key reset --user bob --yes',
  );
}

import { type Command, Option } from 'commander';
import { MUST_SET_UP_MFA_PREFIX } from '../../core/errors.js';
import {
  type AccessResponse,
  type AuthRequest,
  type ChallengeFactor,
  PASSCODE_SENT_TO_HEADER,
  parseChallengeHeader,
  SESSION_ID_HEADER,
  type UserResponse,
} from '../../http/v2/wire.js';
import { type Answer, authorized, call, faultMessage, isLockedAnswer, refusal } from '../client.js';
import { CliError, ExitCode } from '../failure.js';
import { fields, out } from '../output.js';
import { askSecret, askText, readStdinLine } from '../prompts.js';
import {
  DEFAULT_PROFILE,
  DEFAULT_URL,
  explicitUrl,
  isExpired,
  profileName,
  readSession,
  removeSession,
  requireSession,
  type Session,
  sessionFile,
  sessionFrom,
  writeSession,
} from '../session.js';
import { example, type GlobalOptions, globals } from './common.js';

interface LoginOptions extends GlobalOptions {
  username?: string;
  apiKey?: boolean;
  passwordStdin?: boolean;
  passcode?: string;
  setupMfa?: boolean;
}

function previousUrl(): string | undefined {
  try {
    return readSession()?.url;
  } catch {
    return undefined;
  }
}

/** Wrong credentials, a lock, a disabled user: each its own exit code, with the server's words. */
function loginRefusal(what: string, answer: Answer<unknown>): CliError {
  const message = faultMessage(answer);
  if (isLockedAnswer(answer)) return new CliError(`${what}: ${message}`, ExitCode.locked);
  // The reference's words start the message; servers may add a hint after them.
  if (answer.status === 403 && message.startsWith(MUST_SET_UP_MFA_PREFIX)) {
    return new CliError(
      `${what}: ${message}: your account requires multi-factor authentication; run 'latchkey login --setup-mfa' to set it up`,
      ExitCode.badCredentials,
    );
  }
  if (answer.status === 401 || answer.status === 403) {
    return new CliError(`${what}: ${message}`, ExitCode.badCredentials);
  }
  return refusal(what, answer);
}

function passcodePrompt(factor: ChallengeFactor, sentTo: string | null): string {
  const alternatives = '(or a bypass or temporary code)';
  if (factor === 'OTPPASSCODE') return `Passcode from your authenticator app ${alternatives}:`;
  return `Passcode sent by SMS${sentTo ? ` to ${sentTo}` : ''} ${alternatives}:`;
}

async function login(options: LoginOptions): Promise<void> {
  const url = explicitUrl(options.url) ?? previousUrl() ?? DEFAULT_URL;
  const username =
    options.username ??
    (process.env.LATCHKEY_USERNAME || undefined) ??
    (process.env.OS_USERNAME || undefined) ??
    (await askText('Username:', 'the username', 'use --username or LATCHKEY_USERNAME'));

  let auth: AuthRequest['auth'];
  if (options.apiKey) {
    // Piped in, the key is read from standard input; typed, it is asked for without echo.
    const apiKey = process.stdin.isTTY
      ? await askSecret(`API key for ${username}:`, 'the API key', 'pipe it to standard input')
      : await readStdinLine('the API key');
    auth = { 'RAX-KSKEY:apiKeyCredentials': { username, apiKey } };
  } else {
    const password = options.passwordStdin
      ? await readStdinLine('the password')
      : await askSecret(`Password for ${username} at ${url}:`, 'the password', 'use --password-stdin');
    auth = { passwordCredentials: { username, password } };
  }
  if (options.setupMfa) auth['RAX-AUTH:scope'] = 'SETUP-MFA';

  let answer = await call<AccessResponse>(url, 'POST', '/v2.0/tokens', { body: { auth } });
  const challenge =
    answer.status === 401 ? parseChallengeHeader(answer.headers.get('www-authenticate')) : undefined;
  if (challenge) {
    const passcode =
      options.passcode ??
      (await askSecret(
        passcodePrompt(challenge.factor, answer.headers.get(PASSCODE_SENT_TO_HEADER)),
        'the passcode',
        'use --passcode',
      ));
    const second: AuthRequest = { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: passcode.trim() } } };
    answer = await call<AccessResponse>(url, 'POST', '/v2.0/tokens', {
      body: second,
      headers: { [SESSION_ID_HEADER]: challenge.sessionId },
    });
    if (answer.status !== 200) throw loginRefusal('wrong passcode', answer);
  } else if (answer.status !== 200) {
    throw loginRefusal('could not log in', answer);
  }

  const session = sessionFrom(url, answer.body);
  writeSession(session);
  if (options.json) {
    out.json({
      url,
      profile: profileName(),
      username: session.username,
      userId: session.userId,
      token: session.token,
      expires: session.expires,
      authenticatedBy: session.authenticatedBy,
      scope: session.scope,
    });
    return;
  }
  out.success(`Logged in to ${url} as ${session.username} (${session.authenticatedBy.join(' + ')}).`);
  const profile = profileName() === DEFAULT_PROFILE ? '' : ` (profile ${profileName()})`;
  out.line(`Token expires ${session.expires}; cached in ${sessionFile()}${profile}.`);
  if (session.scope === 'SETUP-MFA') {
    out.note(
      "This token can only set up MFA: add a device with 'latchkey mfa add-authenticator NAME' or 'latchkey mfa add-phone NUMBER', then 'latchkey mfa enable'.",
    );
  }
}

async function logout(options: GlobalOptions): Promise<void> {
  const session = readSession();
  if (!session) {
    out.line('Not logged in.');
    return;
  }
  let revoked = false;
  if (!isExpired(session)) {
    const answer = await call(session.url, 'DELETE', '/v2.0/tokens', { token: session.token });
    // 401: the server had already dropped the token; the cache goes all the same.
    if (answer.status !== 204 && answer.status !== 401) throw refusal('could not revoke the token', answer);
    revoked = answer.status === 204;
  }
  removeSession();
  if (options.json) return out.json({ url: session.url, revoked });
  out.success(
    revoked
      ? `Logged out of ${session.url}: the token is revoked and removed from the cache.`
      : `Logged out of ${session.url}: the token had already expired; removed from the cache.`,
  );
}

const shellQuote = (value: string): string => `'${value.replaceAll("'", `'\\''`)}'`;

async function token(options: GlobalOptions & { export?: boolean }): Promise<void> {
  const session = requireSession(options.url);
  if (options.export) {
    // What curl and the Rackspace clients read (OS_AUTH_TOKEN), and what the stock `openstack`
    // client needs to use the token as it is: keystoneauth's v3token plugin against /v3, scoped to
    // the account's project. It re-authenticates with the token method, so MFA is not asked again.
    const variables: [string, string][] = [
      ['OS_AUTH_TOKEN', session.token],
      ['OS_TOKEN', session.token],
      ['OS_AUTH_URL', `${session.url}/v3`],
      ['OS_AUTH_TYPE', 'v3token'],
      ['OS_IDENTITY_API_VERSION', '3'],
    ];
    if (session.domainId) variables.push(['OS_PROJECT_ID', session.domainId]);
    for (const [name, value] of variables) out.result(`export ${name}=${shellQuote(value)}`);
    // Left from a password login, they would make the client ask for a password again.
    out.result('unset OS_CLOUD OS_PASSWORD OS_USERNAME OS_USER_ID OS_PASSCODE OS_PROJECT_NAME');
    return;
  }
  if (options.json) return out.json({ url: session.url, token: session.token, expires: session.expires });
  out.result(session.token);
}

function untilText(expires: string): string {
  const minutes = Math.max(0, Math.round((Date.parse(expires) - Date.now()) / 60_000));
  return minutes >= 60 ? `in ${Math.floor(minutes / 60)} h ${minutes % 60} min` : `in ${minutes} min`;
}

function mfaText(user: UserResponse['user'] | undefined): string {
  if (!user) return 'unknown (a SETUP-MFA token cannot read it)';
  if (!user['RAX-AUTH:multiFactorEnabled']) return 'off';
  const factor = user['RAX-AUTH:factorType'] === 'OTP' ? 'authenticator app' : 'SMS';
  const locked = user['RAX-AUTH:multiFactorState'] === 'LOCKED' ? ', LOCKED' : '';
  return `on (${factor}${locked})`;
}

async function whoami(options: GlobalOptions): Promise<void> {
  const session: Session = requireSession(options.url);
  let access: AccessResponse['access'] | undefined;
  let user: UserResponse['user'] | undefined;
  // A SETUP-MFA token may only touch its own multi-factor settings: show what the cache knows.
  if (session.scope === null) {
    access = (await authorized<AccessResponse>(session, 'GET', `/v2.0/tokens/${session.token}`, 'whoami'))
      .body.access;
    user = (await authorized<UserResponse>(session, 'GET', `/v2.0/users/${session.userId}`, 'whoami')).body
      .user;
  }
  const roles = access?.user.roles.map((role) => role.name) ?? session.roles;
  const authenticatedBy = access?.token['RAX-AUTH:authenticatedBy'] ?? session.authenticatedBy;
  const expires = access?.token.expires ?? session.expires;
  if (options.json) {
    return out.json({
      url: session.url,
      user: {
        id: session.userId,
        username: session.username,
        email: user?.email ?? null,
        domainId: session.domainId,
        roles,
      },
      mfa: user
        ? {
            enabled: user['RAX-AUTH:multiFactorEnabled'],
            state: user['RAX-AUTH:multiFactorState'] ?? null,
            factorType: user['RAX-AUTH:factorType'] ?? null,
            enforcementLevel: user['RAX-AUTH:userMultiFactorEnforcementLevel'] ?? null,
          }
        : null,
      token: { expires, authenticatedBy, scope: session.scope },
    });
  }
  const pairs: [string, string][] = [
    ['user', `${session.username} (id ${session.userId})`],
    ['account', session.domainId ?? '(none: a service-wide administrator)'],
    ['roles', roles.join(', ')],
    ['MFA', mfaText(user)],
  ];
  const level = user?.['RAX-AUTH:userMultiFactorEnforcementLevel'];
  if (level) pairs.push(['MFA policy', `user level ${level}`]);
  pairs.push(['token', `expires ${expires} (${untilText(expires)}), by ${authenticatedBy.join(' + ')}`]);
  if (session.scope) pairs.push(['scope', `${session.scope}: only for setting up MFA`]);
  pairs.push(['server', session.url]);
  fields(pairs);
}

export function registerSessionCommands(program: Command): void {
  example(
    program
      .command('login')
      .description('log in (password, then the MFA passcode if asked) and cache the token')
      .option('--username <name>', 'user to log in as (default: LATCHKEY_USERNAME, OS_USERNAME, or asked)')
      .addOption(
        new Option(
          '--api-key',
          'log in with the API key, read from standard input or asked for (skips MFA)',
        ).conflicts(['passwordStdin', 'passcode', 'setupMfa']),
      )
      .option('--password-stdin', 'read the password from the first line of standard input')
      .option('--passcode <code>', 'MFA passcode, bypass code or temporary code, for scripts')
      .option('--setup-mfa', 'ask for a SETUP-MFA token, when the account requires MFA you have not set up')
      .addHelpText(
        'after',
        `
The server is --url, else LATCHKEY_URL, else OS_AUTH_URL, else the last one logged in to, else
${DEFAULT_URL}. The token and its expiry are cached in the profile's file,
$XDG_CONFIG_HOME/latchkey/profiles/NAME.json (mode 0600); NAME is --profile, else
LATCHKEY_PROFILE, else default.`,
      )
      .action(async (_options: LoginOptions, command: Command) => login(globals<LoginOptions>(command))),
    'latchkey login --url https://identity.example.com --username alice',
    'latchkey login --profile staging --url https://identity.staging.example.com --username alice',
    'printf \'%s\\n\' "$PASSWORD" | latchkey login --username alice --password-stdin --passcode 12345678',
  );

  example(
    program
      .command('logout')
      .description('revoke the cached token on the server and remove it from the cache')
      .action(async (_options: GlobalOptions, command: Command) => logout(globals(command))),
    'latchkey logout',
  );

  example(
    program
      .command('token')
      .description('print the cached token, or say that it has expired or is missing')
      .option(
        '--export',
        'print shell commands that set OS_AUTH_TOKEN, and what the openstack CLI needs to use the token',
      )
      .action(async (_options: GlobalOptions, command: Command) => token(globals(command))),
    'eval "$(latchkey token --export)"',
  );

  example(
    program
      .command('whoami')
      .description('show the user, account, roles, MFA state and token expiry')
      .action(async (_options: GlobalOptions, command: Command) => whoami(globals(command))),
    'latchkey whoami',
  );
}

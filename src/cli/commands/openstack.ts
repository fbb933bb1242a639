import { createRequire } from 'node:module';
import { type Command, Option } from 'commander';
import { usageError } from '../failure.js';
import { out } from '../output.js';
import { askSecret, readStdinLine } from '../prompts.js';
import { DEFAULT_URL, explicitUrl, readSession, requireSession, type Session } from '../session.js';
import { example, type GlobalOptions, globals } from './common.js';

type AuthKind = 'multifactor' | 'password' | 'token';

type CloudsOptions = GlobalOptions & {
  cloud: string;
  auth?: AuthKind;
  username?: string;
  passwordStdin?: boolean;
};

/** A session whose token passed a second factor: its user has MFA. */
const usedMfa = (session: Session | undefined): boolean =>
  session?.authenticatedBy.some((method) => method === 'PASSCODE' || method === 'OTPPASSCODE') ?? false;

/**
 * The `clouds:` entry for the stock `openstack` CLI (openstacksdk's clouds.yaml), against /v3.
 * `multifactor` is keystoneauth's v3multifactor with the password and totp methods, as the README
 * documents; `password` the plain one; `token` the cached token itself (v3token), scoped to the
 * account's project, valid until the token expires. The stock client takes the password of a
 * v3multifactor entry from clouds.yaml only (neither OS_PASSWORD nor --os-password reach it), so
 * the password entries carry it: asked for, or read with --password-stdin.
 */
async function cloudEntry(
  options: CloudsOptions,
): Promise<{ entry: Record<string, unknown>; kind: AuthKind }> {
  const session = options.auth === 'token' ? requireSession(options.url) : safeSession();
  const url = explicitUrl(options.url) ?? session?.url ?? DEFAULT_URL;
  const kind: AuthKind = options.auth ?? (usedMfa(session) ? 'multifactor' : 'password');
  const project = session?.url === url && session.domainId ? { project_id: session.domainId } : {};
  if (kind === 'token') {
    const current = session as Session;
    return {
      kind,
      entry: {
        auth_type: 'v3token',
        auth: { auth_url: `${url}/v3`, token: current.token, ...project },
        identity_api_version: 3,
      },
    };
  }
  const username = options.username ?? (session?.url === url ? session.username : undefined);
  if (username === undefined) {
    throw usageError("whose entry? log in first ('latchkey login'), or name the user with --username");
  }
  const password = options.passwordStdin
    ? await readStdinLine('the password')
    : await askSecret(
        `Password for ${username} at ${url} (written into the entry):`,
        'the password',
        'use --password-stdin',
      );
  const auth = { auth_url: `${url}/v3`, username, password, user_domain_id: 'default', ...project };
  return {
    kind,
    entry:
      kind === 'multifactor'
        ? {
            auth_type: 'v3multifactor',
            auth_methods: ['v3password', 'v3totp'],
            auth,
            identity_api_version: 3,
          }
        : { auth_type: 'password', auth, identity_api_version: 3 },
  };
}

function safeSession(): Session | undefined {
  try {
    return readSession();
  } catch {
    return undefined;
  }
}

const USAGE: Record<AuthKind, (cloud: string) => string> = {
  multifactor: (cloud) =>
    `# Holds your password: keep the file to yourself (chmod 600). Give the passcode each time:\n#   openstack --os-cloud ${cloud} --os-passcode CODE token issue`,
  password: (cloud) =>
    `# Holds your password: keep the file to yourself (chmod 600).\n#   openstack --os-cloud ${cloud} token issue`,
  token: (cloud) =>
    `# The cached token itself, valid until it expires (then 'latchkey login' and print this again):\n#   openstack --os-cloud ${cloud} token issue`,
};

async function cloudsYaml(options: CloudsOptions): Promise<void> {
  const { entry, kind } = await cloudEntry(options);
  const document = { clouds: { [options.cloud]: entry } };
  if (options.json) return out.json(document);
  // Loaded here only: other commands never pay for the library.
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  out.result(`${USAGE[kind](options.cloud)}\n${yaml.stringify(document).trimEnd()}`);
}

export function registerOpenStackCommands(program: Command): void {
  const openstack = example(
    program.command('openstack').description('settings for the stock openstack CLI, which speaks /v3'),
    'latchkey openstack clouds-yaml > clouds.yaml',
  );
  example(
    openstack
      .command('clouds-yaml')
      .description('print a clouds.yaml entry for this server and user (openstack --os-cloud NAME)')
      .option('--cloud <name>', 'the name of the cloud entry', 'latchkey')
      .addOption(
        new Option(
          '--auth <kind>',
          'multifactor (password and passcode), password, or token (the cached one); default: multifactor for a user with MFA',
        ).choices(['multifactor', 'password', 'token']),
      )
      .option('--username <name>', 'the user, when not logged in (default: the logged-in user)')
      .option(
        '--password-stdin',
        'read the password for the entry from standard input (else it is asked for)',
      )
      .addHelpText(
        'after',
        `
The file goes in the current directory or ~/.config/openstack/clouds.yaml. The password is
written into the entry (the openstack CLI reads a v3multifactor password from there only): keep
the file to yourself. With --auth token the entry holds the cached token instead (a bearer secret
too), until it expires; then log in again and print it again.`,
      )
      .action(async (_options: unknown, command: Command) => cloudsYaml(globals<CloudsOptions>(command))),
    '(umask 077; latchkey openstack clouds-yaml > clouds.yaml)',
    'openstack --os-cloud latchkey --os-passcode 123456 token issue',
    'latchkey openstack clouds-yaml --auth token > ~/.config/openstack/clouds.yaml',
  );
}

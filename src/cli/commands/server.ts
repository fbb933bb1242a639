import { type Command, Option } from 'commander';
import { CliError, ExitCode, usageError } from '../failure.js';
import { out } from '../output.js';
import { askSecret, readStdinLine } from '../prompts.js';
import { example, type GlobalOptions, globals } from './common.js';

// Server modules (fastify, database drivers, argon2) are imported inside each action, so client
// commands and --help never load them.

async function serve(): Promise<void> {
  const { loadConfig } = await import('../../config/config.js');
  const { startServer } = await import('../../server/main.js');
  const server = await startServer(loadConfig());
  server.deps.log.info({ url: server.url }, 'latchkey listening');
  // Lines wait in a batch (server/batched-lines.ts); the start's go out at once, for whoever
  // watches for them.
  server.deps.log.flush();
  let stopping = false;
  const shutdown = (signal: string) => {
    // One stop, however many signals: Ctrl-C under `npm start` delivers SIGINT twice (from the
    // terminal and again from npm), and a second one must not cut the requests in flight.
    if (stopping) return;
    stopping = true;
    server.deps.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.deps.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function migrate(): Promise<void> {
  const { loadConfig } = await import('../../config/config.js');
  const { createDeps } = await import('../../server/main.js');
  const deps = await createDeps(loadConfig());
  await deps.store.close();
  process.stdout.write('database schema is up to date\n');
}

/** Settings whose values are secrets: `config` says whether they are set, never what they are. */
const SECRET_SETTING = /SECRET|PASSWORD|TOKEN/;

/** A URL's password, hidden; the rest of it is what an operator needs to check. */
function withoutPassword(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '****';
    return url.toString();
  } catch {
    return value;
  }
}

/**
 * Every setting with the value the server would use now and where it came from, after checking
 * them all as `serve` does (a bad one is refused with its name, exit code 2).
 */
async function listConfig(_options: GlobalOptions, command: Command): Promise<void> {
  const { loadConfig, settingSources } = await import('../../config/config.js');
  loadConfig(process.env);
  const settings = settingSources(process.env).map(({ name, value, source, doc }) => {
    let shown = value;
    if (source === 'environment' && SECRET_SETTING.test(name)) shown = '(set, hidden)';
    else if (typeof value === 'string' && /_URL$/.test(name)) shown = withoutPassword(value);
    return { name, value: shown, source, doc };
  });
  if (globals(command).json) return out.json(settings);
  for (const setting of settings) {
    const shown = setting.value === null ? '(unset)' : String(setting.value);
    process.stdout.write(`${setting.name} = ${shown}  (${setting.source})\n    ${setting.doc}\n`);
  }
}

/** What `--password` said before it was removed: a password there shows in `ps` and shell history. */
export const PASSWORD_OPTION_REMOVED =
  '--password would leave the password in the process list and the shell history: pipe it to --password-stdin, or leave both out to be asked for it';

/** The new administrator's password: standard input with --password-stdin, else asked twice, hidden. */
async function newPassword(username: string, passwordStdin: boolean | undefined): Promise<string> {
  if (passwordStdin) return readStdinLine('the password');
  const instead = 'pipe it to --password-stdin';
  const password = await askSecret(`Password for ${username}:`, 'the password', instead);
  const again = await askSecret('The same password again:', 'the password', instead);
  if (again !== password) throw usageError('the two passwords differ');
  return password;
}

async function createUser(options: {
  username: string;
  password?: string;
  passwordStdin?: boolean;
  role: string;
}): Promise<void> {
  if (options.password !== undefined) throw usageError(PASSWORD_OPTION_REMOVED);
  const { loadConfig } = await import('../../config/config.js');
  const { assertRoleName, insertUser, validatePassword } = await import('../../identity/users.js');
  const { createDeps } = await import('../../server/main.js');
  const role = assertRoleName(options.role);
  if (role !== 'identity:admin' && role !== 'identity:service-admin') {
    throw usageError(
      'server create-user makes identity:admin or identity:service-admin users; create account users with latchkey users create',
    );
  }
  const password = await newPassword(options.username, options.passwordStdin);
  validatePassword(password);
  const deps = await createDeps(loadConfig());
  try {
    const user = await insertUser(
      deps,
      { userId: null, source: 'cli' },
      { username: options.username, password, role, domainId: null, defaultRegion: '' },
    );
    process.stdout.write(`created ${role} '${user.username}' (id ${user.id})\n`);
  } finally {
    await deps.store.close();
  }
}

/** Step 3 of a key rotation (docs/deployment.md, "Rotating keys"). */
async function reencryptSecretsCommand(): Promise<void> {
  const { loadConfig } = await import('../../config/config.js');
  const { createDeps } = await import('../../server/main.js');
  const { reencryptSecrets } = await import('../../server/key-rotation.js');
  const deps = await createDeps(loadConfig());
  try {
    const report = await reencryptSecrets(deps);
    const { apiKeys, otpSecrets, serverKeys } = report.reencrypted;
    const current = report.currentKeyId;
    process.stdout.write(
      `re-encrypted under key '${current}': ${apiKeys} API keys, ${otpSecrets} TOTP secrets, ${serverKeys} server keys\n`,
    );
    const left = Object.entries(report.remaining);
    if (left.length > 0) {
      const listing = left.map(([keyId, count]) => `${count} under key '${keyId}'`).join(', ');
      throw new CliError(
        `still under other keys: ${listing}; once every instance runs with key '${current}' first, run this again`,
        ExitCode.refused,
      );
    }
    process.stdout.write(`nothing is left under another key: only key '${current}' is needed\n`);
  } finally {
    await deps.store.close();
  }
}

export function registerServerCommands(program: Command): void {
  example(
    program
      .command('serve')
      .description('run the HTTP server (configured by LATCHKEY_* environment variables)')
      .addHelpText(
        'after',
        `
Listens on LATCHKEY_HOST:LATCHKEY_PORT (default 127.0.0.1:8080) with the embedded SQLite
database under LATCHKEY_DATA_DIR, or LATCHKEY_DATABASE_URL. Stops cleanly on SIGTERM/SIGINT.`,
      )
      .action(serve),
    'LATCHKEY_PORT=8080 latchkey serve',
  );
  example(
    program.command('migrate').description('bring the database schema up to date and exit').action(migrate),
    'LATCHKEY_DATABASE_URL=postgres://latchkey@db/latchkey latchkey migrate',
  );
  example(
    program
      .command('config')
      .description('list every LATCHKEY_* setting with the value in effect and where it comes from')
      .action(listConfig),
    'latchkey config',
  );

  const server = example(
    program
      .command('server')
      .description('offline operations on the configured store, run beside (or before) the server'),
    'latchkey server create-user --username admin',
  );
  example(
    server
      .command('create-user')
      .description('create an administrator directly in the database (the first one, or a service admin)')
      .requiredOption('--username <name>', 'the new username')
      .option(
        '--password-stdin',
        'read the password (8+ characters with upper, lower and digit) from the first line of standard input; without it, it is asked for',
      )
      .addOption(new Option('--password <password>').hideHelp())
      .option('--role <role>', 'identity:admin or identity:service-admin', 'identity:admin')
      .addHelpText(
        'after',
        '\nUses the same LATCHKEY_* settings as the server. Everyone else is created through the API\n(latchkey users create).',
      )
      .action(createUser),
    'latchkey server create-user --username admin',
    'latchkey server create-user --username ops --role identity:service-admin --password-stdin < password.txt',
  );
  example(
    server
      .command('reencrypt-secrets')
      .description('re-encrypt every stored secret under the first key of LATCHKEY_SECRET_KEYS')
      .addHelpText(
        'after',
        `
Step 3 of a key rotation: run it once every instance has the new key first in
LATCHKEY_SECRET_KEYS. Exits 0 when nothing is left under another key (the old key may then
leave the ring), 1 when something is.`,
      )
      .action(reencryptSecretsCommand),
    'latchkey server reencrypt-secrets',
  );
}

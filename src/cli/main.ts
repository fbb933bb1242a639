#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, configDocs, loadConfig } from '../config/config.js';
import { ApiError } from '../errors.js';
import { ROLE_NAMES } from '../identity/roles.js';
import { assertRoleName, insertUser, validatePassword } from '../identity/users.js';
import { createDeps, StartupError, startServer } from '../main.js';

const HELP: Record<string, string> = {
  main: `latchkey: identity service with multi-factor authentication (Rackspace Identity v2.0 API)

Usage: latchkey <command> [options]

Commands:
  serve            run the HTTP server (configured by LATCHKEY_* environment variables)
  migrate          bring the database schema up to date and exit
  users create     create a user (the first administrator, or a service admin)
  config           list every setting with its default

Run 'latchkey <command> --help' for a command's options.`,
  serve: `Usage: latchkey serve

Runs the server on LATCHKEY_HOST:LATCHKEY_PORT (default 127.0.0.1:8080) with the embedded
SQLite database under LATCHKEY_DATA_DIR, or LATCHKEY_DATABASE_URL. Stops cleanly on SIGTERM/SIGINT.`,
  migrate: `Usage: latchkey migrate

Applies pending database migrations to the configured database and exits.`,
  users: `Usage: latchkey users create --username <name> --password <password> [--role <role>]

Creates a user directly in the database. Roles: ${ROLE_NAMES.join(', ')} (default identity:admin).
Use it for the first administrator; everyone else is created through the API.`,
  config: `Usage: latchkey config

Lists every LATCHKEY_* setting with its default and meaning.`,
};

function fail(message: string): never {
  process.stderr.write(`latchkey: ${message}\n`);
  process.exit(2);
}

async function serve(): Promise<void> {
  const server = await startServer(loadConfig());
  server.deps.log.info({ url: server.url }, 'latchkey listening');
  const shutdown = (signal: string) => {
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
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function migrate(): Promise<void> {
  const deps = await createDeps(loadConfig());
  await deps.store.close();
  process.stdout.write('database schema is up to date\n');
}

async function createUserCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      username: { type: 'string' },
      password: { type: 'string' },
      role: { type: 'string', default: 'identity:admin' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(`${HELP.users}\n`);
  if (!values.username || !values.password) fail('users create needs --username and --password');
  const role = assertRoleName(values.role ?? 'identity:admin');
  if (role !== 'identity:admin' && role !== 'identity:service-admin') {
    fail(
      'the CLI creates identity:admin or identity:service-admin users; create account users through the API',
    );
  }
  validatePassword(values.password);
  const deps = await createDeps(loadConfig());
  try {
    const user = await insertUser(
      deps,
      { userId: null, source: 'cli' },
      {
        username: values.username,
        password: values.password,
        role,
        domainId: null,
        defaultRegion: '',
      },
    );
    process.stdout.write(`created ${role} '${user.username}' (id ${user.id})\n`);
  } finally {
    await deps.store.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${HELP.main}\n`);
      return;
    case 'serve':
      if (wantsHelp) return void process.stdout.write(`${HELP.serve}\n`);
      return serve();
    case 'migrate':
      if (wantsHelp) return void process.stdout.write(`${HELP.migrate}\n`);
      return migrate();
    case 'config':
      if (wantsHelp) return void process.stdout.write(`${HELP.config}\n`);
      for (const setting of configDocs) {
        const fallback = setting.default === undefined ? '(unset)' : JSON.stringify(setting.default);
        process.stdout.write(`${setting.name} = ${fallback}\n    ${setting.doc}\n`);
      }
      return;
    case 'users': {
      const [sub, ...options] = rest;
      if (sub === 'create') return createUserCommand(options);
      process.stdout.write(`${HELP.users}\n`);
      if (!wantsHelp && sub !== undefined) process.exit(2);
      return;
    }
    default:
      fail(`unknown command '${command}'; see 'latchkey --help'`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) fail(`configuration error: ${error.message}`);
  if (error instanceof ApiError) fail(error.message);
  if (error instanceof StartupError) {
    process.stderr.write(`latchkey: ${error.message}\n`);
    process.exit(1);
  }
  process.stderr.write(
    `latchkey: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});

import type { Command } from 'commander';
import { out, table } from '../output.js';
import { isExpired, listProfiles } from '../session.js';
import { example, type GlobalOptions, globals } from './common.js';

const tokenState = (expires: string): string =>
  Date.parse(expires) <= Date.now() ? 'expired' : `valid until ${expires}`;

async function list(options: GlobalOptions): Promise<void> {
  const profiles = listProfiles();
  if (options.json) {
    return out.json(
      profiles.map(({ name, current, session, damaged }) => ({
        name,
        current,
        url: session?.url ?? null,
        username: session?.username ?? null,
        expires: session?.expires ?? null,
        expired: session ? isExpired(session) : null,
        ...(damaged ? { damaged: true } : {}),
      })),
    );
  }
  table(
    ['', 'PROFILE', 'SERVER', 'USER', 'TOKEN'],
    profiles.map(({ name, current, session, damaged }) => [
      current ? '*' : '',
      name,
      session?.url ?? '',
      session?.username ?? '',
      damaged ? 'damaged: log in again' : session ? tokenState(session.expires) : 'not logged in',
    ]),
  );
}

export function registerProfileCommands(program: Command): void {
  const profiles = example(
    program
      .command('profiles')
      .description('saved sessions, one per profile: several servers or users (--profile, LATCHKEY_PROFILE)'),
    'latchkey profiles list',
  );
  example(
    profiles
      .command('list', { isDefault: true })
      .description('list the profiles, their server, user and token; * marks the one in use')
      .addHelpText(
        'after',
        `
Each profile is a file in $XDG_CONFIG_HOME/latchkey/profiles/ (mode 0600). 'latchkey login
--profile NAME' creates one; every command takes --profile NAME (or LATCHKEY_PROFILE=NAME) to act
with it. Without either, the profile is 'default'.`,
      )
      .action(async (_options: unknown, command: Command) => list(globals(command))),
    'latchkey profiles list',
    'latchkey --profile staging login --url https://identity.staging.example.com',
  );
}

import { Argument, type Command, Option } from 'commander';
import type { DomainImpactResponse, DomainMultiFactorRequest, DomainResponse } from '../../http/v2/wire.js';
import { authorized } from '../client.js';
import { usageError } from '../failure.js';
import { fields, out } from '../output.js';
import { requireSession, type Session } from '../session.js';
import { example, type GlobalOptions, globals } from './common.js';

type AccountOptions = GlobalOptions & { account?: string; dryRun?: boolean };

/**
 * What the account requires: the two wire levels, or ours, passkeys or security keys only
 * (REQUIRED on the wire with `latchkey:passkeysOnly`).
 */
const POLICIES = ['REQUIRED', 'PASSKEYS_ONLY', 'OPTIONAL'] as const;
type AccountPolicy = (typeof POLICIES)[number];

/** The request for a policy: REQUIRED says passkeys-only is off, so it undoes PASSKEYS_ONLY. */
function requestFor(policy: AccountPolicy): DomainMultiFactorRequest {
  if (policy === 'OPTIONAL')
    return { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'OPTIONAL' } };
  return {
    'RAX-AUTH:multiFactorDomain': {
      domainMultiFactorEnforcementLevel: 'REQUIRED',
      'latchkey:passkeysOnly': policy === 'PASSKEYS_ONLY',
    },
  };
}

const SET_TEXT: Record<AccountPolicy, (account: string) => string> = {
  REQUIRED: (account) =>
    `Account ${account} now requires MFA: users without it are logged out and must set it up.`,
  PASSKEYS_ONLY: (account) =>
    `Account ${account} now requires passkeys or security keys: sessions without one are logged out, users log in to the control panel with one, and their password logins to the API are refused (API keys still work).`,
  OPTIONAL: (account) => `MFA is now optional in account ${account}.`,
};

function accountOf(session: Session, options: AccountOptions): string {
  const account = options.account ?? session.domainId;
  if (!account) throw usageError('you belong to no account: name one with --account ID');
  return account;
}

const names = (users: { username: string }[]) =>
  users.length === 0 ? 'nobody' : users.map((user) => user.username).join(', ');

async function show(options: AccountOptions): Promise<void> {
  const session = requireSession(options.url);
  const account = accountOf(session, options);
  const domain = (
    await authorized<DomainResponse>(
      session,
      'GET',
      `/v2.0/RAX-AUTH/domains/${account}`,
      'could not read the account',
    )
  ).body['RAX-AUTH:domain'];
  if (options.json) return out.json(domain);
  fields([
    ['account', `${domain.id}${domain.name && domain.name !== domain.id ? ` (${domain.name})` : ''}`],
    ['MFA enforcement', domain.domainMultiFactorEnforcementLevel],
    // latchkey's own choice (absent from other servers, which then require no passkeys).
    ['passkeys only', domain['latchkey:passkeysOnly'] === true ? 'yes (PASSKEYS_ONLY)' : 'no'],
  ]);
}

async function set(level: AccountPolicy, options: AccountOptions): Promise<void> {
  const session = requireSession(options.url);
  const account = accountOf(session, options);
  const body = requestFor(level);
  const path = `/v2.0/RAX-AUTH/domains/${account}/multi-factor`;
  if (options.dryRun) {
    const impact = (
      await authorized<DomainImpactResponse>(session, 'PUT', path, 'could not preview the change', {
        body,
        query: { dryRun: 'true' },
      })
    ).body['RAX-AUTH:multiFactorDomainImpact'];
    if (options.json) return out.json(impact);
    out.line(`Setting account ${account} to ${level} would:`);
    out.line(`  log out ${names(impact.usersLoggedOut)} (${impact.tokensRevoked} token(s) revoked)`);
    out.line(`  require ${names(impact.usersRequiredToSetUp)} to set up MFA at their next login`);
    out.note('Dry run: nothing was changed.');
    return;
  }
  await authorized(session, 'PUT', path, 'could not change the enforcement', { body });
  if (options.json) return out.json({ account, level });
  out.success(SET_TEXT[level](account));
}

export function registerAccountCommands(program: Command): void {
  const account = example(
    program.command('account').description('your account (domain) settings'),
    'latchkey account enforcement',
  );
  const enforcement = example(
    account
      .command('enforcement')
      .description('show or set whether the account requires MFA (or passkeys) of its users')
      .addOption(new Option('--account <id>', 'account (domain) id; default: your own').default(undefined)),
    'latchkey account enforcement',
    'latchkey account enforcement set REQUIRED --dry-run',
  );
  example(
    enforcement
      .command('show', { isDefault: true })
      .description('show the enforcement level and whether passkeys are required (the default)')
      .action(async (_options: unknown, command: Command) => show(globals<AccountOptions>(command))),
    'latchkey account enforcement show',
  );
  example(
    enforcement
      .command('set')
      .description(
        'require MFA of every user (REQUIRED), passkeys or security keys only (PASSKEYS_ONLY), or leave it to each (OPTIONAL)',
      )
      .addArgument(new Argument('<level>', 'REQUIRED, PASSKEYS_ONLY or OPTIONAL').choices([...POLICIES]))
      .option('--dry-run', 'show who would be logged out and required to set up MFA, change nothing')
      .action(async (level: AccountPolicy, _options: unknown, command: Command) =>
        set(level, globals<AccountOptions>(command)),
      ),
    'latchkey account enforcement set REQUIRED --dry-run',
    'latchkey account enforcement set REQUIRED',
    'latchkey account enforcement set PASSKEYS_ONLY --dry-run',
  );
}

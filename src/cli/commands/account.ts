import { Argument, type Command, Option } from 'commander';
import type {
  DomainEnforcementLevel,
  DomainImpactResponse,
  DomainMultiFactorRequest,
  DomainResponse,
} from '../../http/v2/wire.js';
import { authorized } from '../client.js';
import { usageError } from '../failure.js';
import { fields, out } from '../output.js';
import { requireSession, type Session } from '../session.js';
import { example, type GlobalOptions, globals } from './common.js';

type AccountOptions = GlobalOptions & { account?: string; dryRun?: boolean };

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
  ]);
}

async function set(level: DomainEnforcementLevel, options: AccountOptions): Promise<void> {
  const session = requireSession(options.url);
  const account = accountOf(session, options);
  const body: DomainMultiFactorRequest = {
    'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: level },
  };
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
  out.success(
    level === 'REQUIRED'
      ? `Account ${account} now requires MFA: users without it are logged out and must set it up.`
      : `MFA is now optional in account ${account}.`,
  );
}

export function registerAccountCommands(program: Command): void {
  const account = example(
    program.command('account').description('your account (domain) settings'),
    'latchkey account enforcement',
  );
  const enforcement = example(
    account
      .command('enforcement')
      .description('show or set whether the account requires MFA of its users')
      .addOption(new Option('--account <id>', 'account (domain) id; default: your own').default(undefined)),
    'latchkey account enforcement',
    'latchkey account enforcement set REQUIRED --dry-run',
  );
  example(
    enforcement
      .command('show', { isDefault: true })
      .description('show the enforcement level (the default)')
      .action(async (_options: unknown, command: Command) => show(globals<AccountOptions>(command))),
    'latchkey account enforcement show',
  );
  example(
    enforcement
      .command('set')
      .description('require MFA of every user (REQUIRED) or leave it to each (OPTIONAL)')
      .addArgument(new Argument('<level>', 'REQUIRED or OPTIONAL').choices(['REQUIRED', 'OPTIONAL']))
      .option('--dry-run', 'show who would be logged out and required to set up MFA, change nothing')
      .action(async (level: DomainEnforcementLevel, _options: unknown, command: Command) =>
        set(level, globals<AccountOptions>(command)),
      ),
    'latchkey account enforcement set REQUIRED --dry-run',
    'latchkey account enforcement set REQUIRED',
  );
}

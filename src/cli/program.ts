import { styleText } from 'node:util';
import { Command, Option } from 'commander';
import { packageVersion } from '../core/package-version.js';
import { registerAccountCommands } from './commands/account.js';
import { example } from './commands/common.js';
import { registerCredentialCommands } from './commands/credentials.js';
import { registerEventCommands } from './commands/events.js';
import { registerMfaCommands } from './commands/mfa.js';
import { registerOpenStackCommands } from './commands/openstack.js';
import { registerProfileCommands } from './commands/profiles.js';
import { registerServerCommands } from './commands/server.js';
import { registerSessionCommands } from './commands/session.js';
import { registerUserCommands } from './commands/users.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { ExitCode, oneLine, usageError } from './failure.js';
import { colourOn, errorLine, OUTPUT_FORMATS, type OutputFormat, setOutputFormat } from './output.js';
import { chooseProfile } from './session.js';

const EPILOGUE = `
Client commands talk to a latchkey server over its HTTP API; the server is --url, else
LATCHKEY_URL, else OS_AUTH_URL, else the one you last logged in to. Each profile
(--profile NAME or LATCHKEY_PROFILE, else default) keeps its own session, so several
servers or users are a flag apart. Colour only on a terminal, never with NO_COLOR.

Exit codes: 0 done, 1 refused by the server, 2 usage, 3 bad credentials or not logged in,
4 locked (an administrator must unlock), 5 server unreachable, 130 cancelled.

Examples:
  $ latchkey login --url http://127.0.0.1:8080 --username alice
  $ eval "$(latchkey token --export)"
  $ latchkey mfa add-authenticator "work phone"`;

export function buildProgram(): Command {
  const program = new Command('latchkey');
  program
    .description('latchkey: identity service with multi-factor authentication (Rackspace Identity v2.0 API)')
    .version(packageVersion(), '-V, --version')
    .addOption(
      new Option('--url <url>', 'server URL (default: LATCHKEY_URL, OS_AUTH_URL, or the last login)'),
    )
    .addOption(
      new Option(
        '--profile <name>',
        'saved session to use, one per server or user (default: LATCHKEY_PROFILE, or default)',
      ),
    )
    .addOption(
      new Option(
        '-o, --output <format>',
        'table (the default), json, yaml, or value (values alone, as openstack -f value)',
      ).choices(OUTPUT_FORMATS),
    )
    .option('--json', 'the same as --output json')
    .showSuggestionAfterError(true)
    .configureHelp({
      sortSubcommands: false,
      showGlobalOptions: true,
      styleTitle: (text) => (colourOn(process.stdout) ? styleText('bold', text) : text),
    })
    .configureOutput({
      // One line, the same prefix as every other error; commander's own "error: " dropped.
      outputError: (text, write) => write(errorLine(oneLine(text.replace(/^error: /, '')))),
    })
    .exitOverride()
    .hook('preAction', (_program, action) => {
      const options = action.optsWithGlobals<{ json?: boolean; output?: OutputFormat; profile?: string }>();
      if (options.json && options.output !== undefined && options.output !== 'json') {
        throw usageError(`--json is --output json: it cannot go with --output ${options.output}`);
      }
      setOutputFormat(options.output ?? (options.json ? 'json' : 'table'));
      chooseProfile(options.profile);
    })
    .addHelpText('after', EPILOGUE);

  registerSessionCommands(program);
  registerCredentialCommands(program);
  registerMfaCommands(program);
  registerUserCommands(program);
  registerAccountCommands(program);
  registerEventCommands(program);
  registerProfileCommands(program);
  registerOpenStackCommands(program);
  registerServerCommands(program);

  example(
    program
      .command('completion')
      .description('print the shell completion script for bash or zsh')
      .argument('<shell>', 'bash or zsh')
      .action((shell: string) => {
        if (shell === 'bash') process.stdout.write(bashCompletion(program));
        else if (shell === 'zsh') process.stdout.write(zshCompletion(program));
        else {
          process.stderr.write(`latchkey: completion is for bash or zsh, not '${shell}'\n`);
          process.exitCode = ExitCode.usage;
        }
      }),
    'source <(latchkey completion bash)',
    "echo 'source <(latchkey completion zsh)' >> ~/.zshrc",
  );
  return program;
}

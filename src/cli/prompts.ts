import { CliError, ExitCode, usageError } from './failure.js';

/** Prompts go to stderr, so `latchkey login --json | jq` still asks on the terminal. */
export const canPrompt = (): boolean => process.stdin.isTTY === true && process.stderr.isTTY === true;

const context = () => ({ input: process.stdin, output: process.stderr, clearPromptOnDone: false });

/** The prompt library is loaded only when a prompt is shown: `--help` and scripts never pay for it. */
async function prompting<T>(ask: (prompts: typeof import('@inquirer/prompts')) => Promise<T>): Promise<T> {
  const prompts = await import('@inquirer/prompts');
  try {
    return await ask(prompts);
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') {
      throw new CliError('cancelled', ExitCode.interrupted);
    }
    throw error;
  }
}

function needTerminal(what: string, instead: string): void {
  if (!canPrompt()) throw usageError(`no terminal to ask for ${what}: ${instead}`);
}

/** Hidden input: nothing is echoed. */
export async function askSecret(message: string, what: string, instead: string): Promise<string> {
  needTerminal(what, instead);
  return prompting((prompts) =>
    prompts.password(
      { message, validate: (value) => (value.trim() === '' ? `${what} is required` : true) },
      context(),
    ),
  );
}

export async function askText(message: string, what: string, instead: string): Promise<string> {
  needTerminal(what, instead);
  return prompting((prompts) =>
    prompts.input(
      { message, validate: (value) => (value.trim() === '' ? `${what} is required` : true) },
      context(),
    ),
  );
}

/** A yes/no question before something that cannot be undone; `--yes` answers it in scripts. */
export async function confirmOrYes(message: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  needTerminal('confirmation', 'add --yes');
  const agreed = await prompting((prompts) => prompts.confirm({ message, default: false }, context()));
  if (!agreed) throw new CliError('cancelled', ExitCode.interrupted);
}

/** The first line of standard input (`--password-stdin`, an API key piped in). */
export async function readStdinLine(what: string): Promise<string> {
  if (process.stdin.isTTY) throw usageError(`${what} is read from standard input, which is a terminal`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]?.trim() ?? '';
  if (line === '') throw usageError(`${what} expected on standard input, got nothing`);
  return line;
}

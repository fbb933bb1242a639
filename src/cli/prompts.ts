import fs from 'node:fs';
import tty from 'node:tty';
import { CliError, ExitCode, usageError } from './failure.js';

interface PromptStreams {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  close(): void;
}

/**
 * Where a prompt asks: standard input and stderr when both are the terminal (stderr, so
 * `latchkey login --json | jq` still asks there); else the controlling terminal itself, as ssh
 * and sudo do, so `printf pw | latchkey login --password-stdin` still asks for the passcode.
 * Undefined when there is no terminal at all (a script, CI).
 */
function promptStreams(): PromptStreams | undefined {
  if (process.stdin.isTTY && process.stderr.isTTY) {
    return { input: process.stdin, output: process.stderr, close: () => {} };
  }
  let input: number;
  let output: number;
  try {
    input = fs.openSync('/dev/tty', 'r');
    output = fs.openSync('/dev/tty', 'w');
  } catch {
    return undefined;
  }
  const reader = new tty.ReadStream(input);
  const writer = new tty.WriteStream(output);
  return {
    input: reader,
    output: writer,
    close: () => {
      reader.destroy();
      writer.destroy();
    },
  };
}

export const canPrompt = (): boolean => {
  const streams = promptStreams();
  streams?.close();
  return streams !== undefined;
};

/** The prompt library is loaded only when a prompt is shown: `--help` and scripts never pay for it. */
async function prompting<T>(
  what: string,
  instead: string,
  ask: (
    prompts: typeof import('@inquirer/prompts'),
    context: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; clearPromptOnDone: false },
  ) => Promise<T>,
): Promise<T> {
  const streams = promptStreams();
  if (!streams) throw usageError(`no terminal to ask for ${what}: ${instead}`);
  const prompts = await import('@inquirer/prompts');
  try {
    return await ask(prompts, { input: streams.input, output: streams.output, clearPromptOnDone: false });
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') {
      throw new CliError('cancelled', ExitCode.interrupted);
    }
    throw error;
  } finally {
    streams.close();
  }
}

/** Hidden input: nothing is echoed. */
export async function askSecret(message: string, what: string, instead: string): Promise<string> {
  return prompting(what, instead, (prompts, context) =>
    prompts.password(
      { message, validate: (value) => (value.trim() === '' ? `${what} is required` : true) },
      context,
    ),
  );
}

export async function askText(message: string, what: string, instead: string): Promise<string> {
  return prompting(what, instead, (prompts, context) =>
    prompts.input(
      { message, validate: (value) => (value.trim() === '' ? `${what} is required` : true) },
      context,
    ),
  );
}

/** A yes/no question before something that cannot be undone; `--yes` answers it in scripts. */
export async function confirmOrYes(message: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  const agreed = await prompting('confirmation', 'add --yes', (prompts, context) =>
    prompts.confirm({ message, default: false }, context),
  );
  if (!agreed) throw new CliError('cancelled', ExitCode.interrupted);
}

/** The first line of standard input (`--password-stdin`, an API key piped in). */
export async function readStdinLine(what: string): Promise<string> {
  const [line] = await readStdinLines([what]);
  return line as string;
}

/** The first lines of standard input, one per thing named (`password change --password-stdin`). */
export async function readStdinLines(what: string[]): Promise<string[]> {
  const all = what.join(' and ');
  if (process.stdin.isTTY)
    throw usageError(
      `${all} ${what.length === 1 ? 'is' : 'are'} read from standard input, which is a terminal`,
    );
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const lines = Buffer.concat(chunks).toString('utf8').split(/\r?\n/);
  return what.map((name, index) => {
    const line = lines[index]?.trim() ?? '';
    if (line === '') {
      throw usageError(
        what.length === 1
          ? `${name} expected on standard input, got nothing`
          : `${name} expected on line ${index + 1} of standard input (${all}, one a line)`,
      );
    }
    return line;
  });
}

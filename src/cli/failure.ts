/**
 * Exit codes, one per kind of failure a script may want to tell apart. Documented in
 * `latchkey --help` and the README.
 */
export const ExitCode = {
  ok: 0,
  /** The server refused the request (a 4xx other than the ones below, or a 5xx). */
  refused: 1,
  /** Bad command line: unknown command or option, missing argument, no terminal to prompt on. */
  usage: 2,
  /** Wrong password, API key or passcode; not logged in; token expired or revoked. */
  badCredentials: 3,
  /** MFA login locked after too many wrong passcodes: an administrator must unlock it. */
  locked: 4,
  /** The server could not be reached. */
  network: 5,
  /** Interrupted at a prompt (Ctrl-C). */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the user is told about in one line, with the exit code of its kind. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, ExitCode.usage);
export const notLoggedIn = (message: string): CliError => new CliError(message, ExitCode.badCredentials);

/** One line: server messages and library errors may carry newlines. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

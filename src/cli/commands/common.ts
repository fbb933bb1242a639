import type { Command } from 'commander';
import type { UserResponse, WireUser } from '../../http/v2/wire.js';
import { authorized } from '../client.js';
import { usageError } from '../failure.js';
import { jsonMode } from '../output.js';
import type { Session } from '../session.js';

/** Options every command accepts (declared once, on the program). */
export interface GlobalOptions {
  url?: string;
  /** A document is asked for (--json, --output json or yaml) rather than tables and sentences. */
  json?: boolean;
}

export function globals<T extends GlobalOptions = GlobalOptions>(command: Command): T {
  return { ...command.optsWithGlobals<T>(), json: jsonMode() };
}

/** Every command's help ends with at least one example. */
export function example(command: Command, ...lines: string[]): Command {
  return command.addHelpText(
    'after',
    `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  $ ${line}`).join('\n')}`,
  );
}

const USER_ID = /^[0-9a-f]{32}$/;

/** A user named by username or id, as the caller may see it. */
export async function resolveUser(session: Session, ref: string, what: string): Promise<WireUser> {
  const path = USER_ID.test(ref) ? `/v2.0/users/${ref}` : `/v2.0/users?name=${encodeURIComponent(ref)}`;
  return (await authorized<UserResponse>(session, 'GET', path, what)).body.user;
}

export const multiFactorPath = (userId: string): string => `/v2.0/users/${userId}/RAX-AUTH/multi-factor`;

/** A whole number within bounds, for commander's argParser: anything else is a usage error. */
export function integerIn(min: number, max: number, name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
      throw usageError(`${name} must be a whole number from ${min} to ${max}, not '${value}'`);
    }
    return parsed;
  };
}

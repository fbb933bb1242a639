import { Messages } from '../core/errors.js';
import { AUTH_TOKEN_HEADER, type FaultBody } from '../http/v2/wire.js';
import { CliError, ExitCode, oneLine } from './failure.js';
import { loginCommand, type Session } from './session.js';

const TIMEOUT_MS = 30_000;

export interface Answer<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CallOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
}

/** The server's own words for a failure: the message of its fault body, or the HTTP status. */
export function faultMessage(answer: Answer<unknown>): string {
  const body = answer.body as FaultBody | undefined;
  const fault = body && typeof body === 'object' ? Object.values(body)[0] : undefined;
  const message = typeof fault?.message === 'string' ? fault.message : `HTTP ${answer.status}`;
  return oneLine(message);
}

export const isLockedAnswer = (answer: Answer<unknown>): boolean =>
  (answer.status === 401 || answer.status === 403) && faultMessage(answer) === Messages.locked;

/** One request to the v2.0 API. Network failures become CliErrors with the network exit code. */
export async function call<T = unknown>(
  url: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer<T>> {
  const target = new URL(`${url}${path}`);
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) target.searchParams.set(key, value);
  }
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers[AUTH_TOKEN_HEADER] = options.token;
  let response: Response;
  try {
    response = await fetch(target, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
  } catch (error) {
    throw new CliError(`cannot reach ${url}: ${networkReason(error)}`, ExitCode.network);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new CliError(
      `${url} answered HTTP ${response.status} with something other than JSON: is it a latchkey server?`,
      ExitCode.refused,
    );
  }
  return { status: response.status, headers: response.headers, body: body as T };
}

function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${TIMEOUT_MS / 1000} seconds`;
  }
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (is the server running?)';
  if (cause?.code === 'ENOTFOUND') return 'unknown host';
  return oneLine(cause?.message ?? (error instanceof Error ? error.message : String(error)));
}

/**
 * A request made with the cached token. `what` names the action in the one-line error, e.g.
 * "could not enable MFA: <server message>".
 */
export async function authorized<T = unknown>(
  session: Session,
  method: string,
  path: string,
  what: string,
  options: Omit<CallOptions, 'token'> = {},
): Promise<Answer<T>> {
  const answer = await call<T>(session.url, method, path, { ...options, token: session.token });
  if (answer.status >= 200 && answer.status < 300) return answer;
  throw refusal(what, answer);
}

export function refusal(what: string, answer: Answer<unknown>): CliError {
  const message = faultMessage(answer);
  if (isLockedAnswer(answer)) return new CliError(`${what}: ${message}`, ExitCode.locked);
  if (answer.status === 401) {
    return new CliError(
      `${what}: the server no longer accepts your token (expired or revoked): run '${loginCommand()}' again`,
      ExitCode.badCredentials,
    );
  }
  const retry = answer.headers.get('retry-after');
  return new CliError(
    `${what}: ${message}${answer.status === 429 && retry ? ` (retry in ${retry} s)` : ''}`,
    ExitCode.refused,
  );
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../core/errors.js';

/**
 * The one edge every surface stands behind (v2.0, /v3, the panel, discovery, health): registered
 * once on the root instance in app.ts, so a new surface is covered without a change here. Headers
 * and URL values are judged when the request arrives, the body once it is parsed (on the routes
 * that take one), both before any schema, handler or query sees them; the 400 is rendered by the
 * surface's own error handler (v2.0 fault, Keystone error, panel error page).
 *
 * Control characters (C0 and DEL) and lone UTF-16 surrogates are refused in every value a client
 * sends: PostgreSQL refuses NUL in text (a 500 where the client deserves a 400) and cannot store a
 * lone surrogate faithfully, and SQLite would keep values that could never move to PostgreSQL.
 * URL values (path parameters and the query) are also bounded in length; bodies are bounded by
 * the body limit and each field by its own schema or form limit.
 */
const FORBIDDEN_CHARACTERS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its purpose
  /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const CONTROL_CHARACTERS_MESSAGE = 'Invalid request: control characters are not allowed.';

/** No id, name, filter or search of any surface comes near it (usernames: 255, tokens: 256). */
export const MAX_URL_VALUE_LENGTH = 1024;

export const URL_VALUE_TOO_LONG_MESSAGE = `Invalid request: a value in the URL is longer than ${MAX_URL_VALUE_LENGTH} characters.`;

type Finding = 'control' | 'long' | undefined;

/** The first hostile string in a parsed value (keys included); strings over `maxLength` too. */
function findHostile(value: unknown, maxLength: number): Finding {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (FORBIDDEN_CHARACTERS.test(value)) return 'control';
    return value.length > maxLength ? 'long' : undefined;
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const flat = findHostileInFlat(value as Record<string, unknown>, maxLength);
    if (flat !== NESTED) return flat;
  }
  // Iterative: a 64 KiB body can nest arrays thousands deep.
  const pending: unknown[] = [value];
  let long = false;
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      if (FORBIDDEN_CHARACTERS.test(item)) return 'control';
      if (item.length > maxLength) long = true;
    } else if (Array.isArray(item)) {
      pending.push(...item);
    } else if (item !== null && typeof item === 'object') {
      for (const key in item) {
        if (!Object.hasOwn(item, key)) continue;
        if (FORBIDDEN_CHARACTERS.test(key)) return 'control';
        if (key.length > maxLength) long = true;
        const inner = (item as Record<string, unknown>)[key];
        // Strings (every path parameter, most query values) are judged here, not queued.
        if (typeof inner !== 'string') pending.push(inner);
        else if (FORBIDDEN_CHARACTERS.test(inner)) return 'control';
        else if (inner.length > maxLength) long = true;
      }
    }
  }
  return long ? 'long' : undefined;
}

const NESTED = Symbol('nested');

/**
 * The same judgement for an object of strings only (path parameters, most queries, every
 * request's), without the work queue; NESTED when a value is not a string, for the full walk.
 */
function findHostileInFlat(item: Record<string, unknown>, maxLength: number): Finding | typeof NESTED {
  let long = false;
  for (const key in item) {
    if (!Object.hasOwn(item, key)) continue;
    const inner = item[key];
    if (typeof inner !== 'string') return NESTED;
    if (FORBIDDEN_CHARACTERS.test(key) || FORBIDDEN_CHARACTERS.test(inner)) return 'control';
    if (key.length > maxLength || inner.length > maxLength) long = true;
  }
  return long ? 'long' : undefined;
}

/** Whether any string in a parsed body, query or params (keys included) holds such a character. */
export function hasForbiddenCharacters(value: unknown): boolean {
  return findHostile(value, Number.POSITIVE_INFINITY) === 'control';
}

/**
 * A URL of printable ASCII without percent-escapes: what its path parameters and query decode to
 * is the same printable ASCII, so they need no walk when it is short too. Most requests' URLs are.
 */
const PLAIN_URL = /^[\x21-\x24\x26-\x7e]*$/;

/**
 * What is wrong with a request's headers or URL values, in words for the client; undefined when
 * nothing is. Known before the body is read.
 */
export function hostileInputMessage(request: FastifyRequest): string | undefined {
  // The headers whose values reach the domain (token and session lookups, the panel's cookies),
  // read by name: this runs on every request.
  const headers = request.headers;
  if (
    hasForbiddenCharacters(headers['x-auth-token']) ||
    hasForbiddenCharacters(headers['x-sessionid']) ||
    hasForbiddenCharacters(headers['x-subject-token']) ||
    hasForbiddenCharacters(headers['openstack-auth-receipt']) ||
    hasForbiddenCharacters(headers.cookie)
  )
    return CONTROL_CHARACTERS_MESSAGE;
  const url = request.url;
  if (url.length <= MAX_URL_VALUE_LENGTH && PLAIN_URL.test(url)) return undefined;
  const inParams = findHostile(request.params, MAX_URL_VALUE_LENGTH);
  const inQuery = findHostile(request.query, MAX_URL_VALUE_LENGTH);
  if (inParams === 'control' || inQuery === 'control') return CONTROL_CHARACTERS_MESSAGE;
  return inParams === 'long' || inQuery === 'long' ? URL_VALUE_TOO_LONG_MESSAGE : undefined;
}

/**
 * The onRequest hook for headers and URL values, on every route and on the not-found handler
 * (callback style: an async hook costs promise turns on every request).
 */
export function refuseHostileInput(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (error?: Error) => void,
): void {
  const message = hostileInputMessage(request);
  if (message === undefined) done();
  else done(badRequest(message));
}

/** The preValidation hook for the parsed body, on the routes whose methods carry one. */
export function refuseHostileBody(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (error?: Error) => void,
): void {
  if (hasForbiddenCharacters(request.body)) done(badRequest(CONTROL_CHARACTERS_MESSAGE));
  else done();
}

/** Fastify reads no body for these methods, so their routes need no body hook. */
const BODILESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** Whether a route takes any method whose body Fastify parses. */
export function routeTakesBody(method: string | string[]): boolean {
  return (Array.isArray(method) ? method : [method]).some(
    (name) => !BODILESS_METHODS.has(name.toUpperCase()),
  );
}

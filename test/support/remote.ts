/**
 * The response contract for servers running in another process (spawned by a test, or behind
 * nginx): their answers cannot be checked inside Fastify as in-process ones are, so the test's
 * side checks each against the published OpenAPI document (docs/openapi.json, generated from the
 * same route schemas; test/openapi.test.ts keeps it current).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './process.js';
import { answerDifference } from './response-contract.js';

type Responses = Record<string, Record<string, unknown>>;
interface Operation {
  template: string;
  pattern: RegExp;
  methods: Record<string, { responses: Responses }>;
}

let operations: Operation[] | undefined;

function documented(): Operation[] {
  if (operations) return operations;
  const document = JSON.parse(readFileSync(path.join(ROOT, 'docs', 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, { responses: Responses }>>;
  };
  operations = Object.entries(document.paths).map(([template, methods]) => ({
    template,
    pattern: new RegExp(
      `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}/?$`,
    ),
    methods,
  }));
  return operations;
}

/**
 * Asserts that an answer from another process agrees with its route's documented responses.
 * Paths the document does not describe (control panel pages, unknown paths) are not checked.
 */
export function assertDocumentedAnswer(
  method: string,
  url: string,
  answer: { status: number; headers: Headers | Record<string, string | string[] | undefined>; text: string },
): void {
  const pathname = new URL(url, 'http://answer.invalid').pathname;
  const operation = documented().find((candidate) => candidate.pattern.test(pathname));
  const responses = operation?.methods[method.toLowerCase()]?.responses;
  if (!operation || !responses) return;
  const header = (name: string): unknown =>
    answer.headers instanceof Headers
      ? (answer.headers.get(name) ?? undefined)
      : answer.headers[name.toLowerCase()];
  const difference = answerDifference(responses, {
    status: answer.status,
    header,
    text: method.toUpperCase() === 'HEAD' ? '' : answer.text,
  });
  assert.equal(difference, undefined, `${method.toUpperCase()} ${operation.template}: ${difference}`);
}

/** fetch, reading the body as text and holding the answer to the contract. */
export async function fetchDocumented(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, init);
  const text = await response.text();
  const answer = { status: response.status, headers: response.headers, text };
  assertDocumentedAnswer(init.method ?? 'GET', url, answer);
  return answer;
}

/**
 * A JSON call to a server in another process, for setting the scene and checking results
 * independently of the CLI; every answer is held to the contract.
 */
export async function callServer<Body = Record<string, unknown>>(
  base: string,
  method: string,
  route: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Body; text: string }> {
  const answer = await fetchDocumented(`${base}${route}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { 'x-auth-token': options.token } : {}),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const body = (answer.text ? JSON.parse(answer.text) : {}) as Body;
  return { ...answer, body };
}

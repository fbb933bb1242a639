import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import Fastify, { type FastifySchema } from 'fastify';
import { Messages } from '../src/core/errors.js';
import type { HttpServer } from '../src/http/server-instance.js';
import { buildApp } from '../src/server/app.js';
import { createTestEnv, type TestEnv } from './support/harness.js';
import { CONTRACT_BREACH, checkResponsesAgainstSchemas } from './support/response-contract.js';

const COPY = new URL('../docs/openapi.json', import.meta.url);
const GUIDE = new URL('../docs/api.md', import.meta.url);

type Operation = { tags?: string[]; responses: Record<string, { description?: string }> };
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** The APIs' routes as Fastify holds them (v2.0, v3, operations): all but the control panel's pages. */
async function apiRoutes(env: TestEnv): Promise<{ method: string; url: string; response: unknown }[]> {
  const app = buildApp(env.deps);
  const routes: { method: string; url: string; response: unknown }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      const url = route.url;
      // The control panel's pages (its `/` asks for HTML) are not part of the API.
      const panelPage = route.constraints !== undefined && 'page' in route.constraints;
      if (/^\/(v2\.0|v3|health|metrics|openapi\.json|$)/.test(url) && !panelPage)
        routes.push({ method, url, response: route.schema?.response });
    }
  });
  await app.ready();
  await app.close();
  return routes;
}

describe('the OpenAPI document', () => {
  let env: TestEnv;
  let document: Document;
  before(async () => {
    env = await createTestEnv();
    const answer = await env.request('GET', '/openapi.json');
    assert.equal(answer.status, 200);
    document = answer.body as unknown as Document;
  });
  after(() => env.close());

  test('/openapi.json is a valid OpenAPI 3.1 document', async () => {
    assert.equal(document.openapi, '3.1.0');
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(document) as never);
  });

  test('every API route has a response schema and is in the document, with each of its methods', async () => {
    const routes = await apiRoutes(env);
    assert.ok(routes.length > 30, `found ${routes.length} routes`);
    for (const route of routes) {
      assert.ok(route.response, `${route.method} ${route.url} has no response schema`);
      // Fastify spells a literal ':' as '::' (the API key path).
      const path = route.url.replace(/(?<!:):(\w+)/g, '{$1}').replaceAll('::', ':');
      const operation = document.paths[path]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${path} is in the document`);
      for (const [status, answer] of Object.entries(operation.responses))
        assert.ok(answer.description, `${route.method} ${path} ${status} is described`);
    }
  });

  test('latchkey extensions are marked as such', () => {
    const extension = (method: string, path: string) => {
      const operation = document.paths[path]?.[method] as (Operation & Record<string, unknown>) | undefined;
      assert.ok(operation, `${method} ${path}`);
      return operation['x-latchkey-extension'] === true && operation.tags?.includes('Latchkey extensions');
    };
    for (const [method, path] of [
      ['post', '/v2.0/users/{userId}/RAX-AUTH/multi-factor/temporary-code'],
      ['get', '/v2.0/RAX-AUTH/events'],
      ['get', '/health'],
      ['get', '/health/ready'],
      ['get', '/metrics'],
    ] as const)
      assert.ok(extension(method, path), `${method} ${path} is marked as a latchkey extension`);
    assert.equal(extension('post', '/v2.0/tokens'), false);
    const dryRun = JSON.stringify(document.paths['/v2.0/RAX-AUTH/domains/{domainId}/multi-factor']?.put);
    assert.match(dryRun, /dryRun/);
    assert.match(dryRun, /Latchkey extension/);
  });

  test('the login documents its body, the X-SessionId header and the WWW-Authenticate challenge', () => {
    const login = JSON.stringify(document.paths['/v2.0/tokens']?.post);
    for (const part of [
      'passwordCredentials',
      'RAX-KSKEY:apiKeyCredentials',
      'RAX-AUTH:passcodeCredentials',
      'x-sessionid',
      'WWW-Authenticate',
      'X-Latchkey-Passcode-Sent-To',
      Messages.challenge,
      Messages.mustSetupMfa,
    ])
      assert.ok(login.includes(JSON.stringify(part).slice(1, -1)), `the login operation mentions ${part}`);
  });

  test('docs/openapi.json is the document the server serves (npm run openapi writes it)', () => {
    const copy = JSON.parse(fs.readFileSync(COPY, 'utf8')) as unknown;
    assert.deepEqual(copy, document, 'docs/openapi.json differs from /openapi.json: run npm run openapi');
  });

  test('docs/api.md names every operation and every fixed message', () => {
    const guide = fs.readFileSync(GUIDE, 'utf8');
    for (const [path, operations] of Object.entries(document.paths))
      for (const method of Object.keys(operations))
        assert.ok(
          guide.includes(`${method.toUpperCase()} ${path}`),
          `docs/api.md names ${method.toUpperCase()} ${path}`,
        );
    for (const [name, message] of Object.entries(Messages))
      assert.ok(guide.includes(message), `docs/api.md gives the message ${name}: ${message}`);
  });
});

describe('the response check the test suite runs under', () => {
  test('an answer unlike its schema, or with an undocumented status, becomes a 500 naming the difference', async () => {
    const app = Fastify() as unknown as HttpServer;
    // As the API serialises (api.ts): a schema never trims an answer.
    app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    checkResponsesAgainstSchemas(app);
    const schema: FastifySchema = {
      response: {
        200: {
          type: 'object',
          required: ['user'],
          properties: { user: { type: 'object', properties: { id: { type: 'string' } } } },
        },
      },
    };
    app.get('/right', { schema }, async () => ({ user: { id: 'a' } }));
    app.get('/extra-field', { schema }, async () => ({ user: { id: 'a', passwordHash: 'x' } }));
    app.get('/wrong-type', { schema }, async () => ({ user: { id: 5 } }));
    app.get('/undocumented-status', { schema }, async (_request, reply) => reply.code(418).send({}));
    try {
      assert.equal((await app.inject('/right')).statusCode, 200);
      for (const url of ['/extra-field', '/wrong-type', '/undocumented-status']) {
        const answer = await app.inject(url);
        assert.equal(answer.statusCode, 500, url);
        assert.ok(answer.json()[CONTRACT_BREACH], url);
      }
    } finally {
      await app.close();
    }
  });
});

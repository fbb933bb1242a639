import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import Fastify, { type FastifySchema } from 'fastify';
import type { HttpServer } from '../src/http/server-instance.js';
import { CONTRACT_BREACH, checkResponsesAgainstSchemas } from './support/response-contract.js';

/** The check of test/support/response-contract.ts on the forms an answer takes besides a string. */
test('the response check reads Buffer and stream bodies, the JSON content type and documented headers', async () => {
  const app = Fastify() as unknown as HttpServer;
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  checkResponsesAgainstSchemas(app);
  const schema: FastifySchema = {
    response: {
      200: {
        type: 'object',
        required: ['id'],
        properties: { id: { type: 'string' } },
        headers: { 'Retry-After': { type: 'string', pattern: '^[0-9]+$' } },
      },
    },
  };
  const json = { 'content-type': 'application/json; charset=utf-8' };
  const routes: Record<string, [unknown, Record<string, string>]> = {
    '/buffer-right': [Buffer.from('{"id":"a"}'), json],
    '/buffer-wrong': [Buffer.from('{"id":5}'), json],
    '/stream-right': [Readable.from([Buffer.from('{"id":'), Buffer.from('"a"}')]), json],
    '/stream-wrong': [Readable.from([Buffer.from('{"id":"a","secret":"x"}')]), json],
    '/json-as-text': ['{"id":"a"}', { 'content-type': 'text/plain' }],
    '/header-right': ['{"id":"a"}', { ...json, 'retry-after': '30' }],
    '/header-wrong': ['{"id":"a"}', { ...json, 'retry-after': 'soon' }],
    '/not-json': ['{"id":', json],
  };
  for (const [url, [body, headers]] of Object.entries(routes)) {
    app.get(url, { schema }, async (_request, reply) => reply.headers(headers).send(body));
  }
  try {
    for (const url of ['/buffer-right', '/stream-right', '/header-right']) {
      const answer = await app.inject(url);
      assert.equal(answer.statusCode, 200, `${url}: ${answer.body}`);
      assert.deepEqual(answer.json(), { id: 'a' }, url);
    }
    for (const url of ['/buffer-wrong', '/stream-wrong', '/json-as-text', '/header-wrong', '/not-json']) {
      const answer = await app.inject(url);
      assert.equal(answer.statusCode, 500, `${url}: ${answer.body}`);
      assert.ok(answer.json()[CONTRACT_BREACH], url);
    }
  } finally {
    await app.close();
  }
});

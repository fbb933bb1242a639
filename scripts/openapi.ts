/**
 * `npm run openapi`: writes the OpenAPI document the server serves at /openapi.json to
 * docs/openapi.json (test/openapi.test.ts fails while the two differ).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createTestEnv } from '../test/support/harness.js';

const OPENAPI_COPY = path.join(import.meta.dirname, '..', 'docs', 'openapi.json');

const env = await createTestEnv();
try {
  const answer = await env.request('GET', '/openapi.json');
  if (answer.status !== 200) throw new Error(`GET /openapi.json answered ${answer.status}`);
  fs.writeFileSync(OPENAPI_COPY, `${JSON.stringify(answer.body, null, 2)}\n`);
  console.log(path.relative(process.cwd(), OPENAPI_COPY));
} finally {
  await env.close();
}

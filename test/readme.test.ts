import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { configDocs } from '../src/config/config.js';

test('the README documents every setting and the test command CI runs', () => {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const setting of configDocs)
    assert.ok(readme.includes(`\`${setting.name}\``), `${setting.name} is in the README`);
  const ci = fs.readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
  assert.ok(readme.includes('npm ci && npm test'));
  assert.ok(ci.includes('npm test'), '.ci/run runs the README test command');
});

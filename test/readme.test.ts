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

test('the README lists every section in its contents, and links only files the repository has', () => {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const slug = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .replaceAll(' ', '-');
  const contents = readme.slice(readme.indexOf('## Contents'), readme.indexOf('## Quick start'));
  for (const [, heading] of readme.matchAll(/^## (.+)$/gm)) {
    if (heading === undefined || heading === 'Contents') continue;
    assert.ok(contents.includes(`](#${slug(heading)})`), `${heading} is in the contents`);
  }
  for (const [, target] of readme.matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)) {
    if (target === undefined) continue;
    assert.ok(fs.existsSync(new URL(`../${target}`, import.meta.url)), `${target} exists`);
  }
});

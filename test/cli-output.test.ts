import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { ADMIN, newHome, runCli, type ServerProcess, startServer } from './support/cli.js';

describe('latchkey --output table|json|yaml|value', () => {
  let server: ServerProcess;
  let env: Record<string, string>;
  let cleanup: () => void;

  before(async () => {
    server = await startServer();
    const home = newHome();
    cleanup = home.cleanup;
    env = { ...home.env, LATCHKEY_URL: server.url };
    const login = await runCli(
      ['login', '--username', ADMIN.username, '--password-stdin'],
      env,
      `${ADMIN.password}\n`,
    );
    assert.equal(login.status, 0, login.stderr);
  });
  after(async () => {
    await server?.stop();
    cleanup?.();
  });

  test('-o yaml, --output json and --json carry the same document; tables stay the default', async () => {
    const asJson = await runCli(['users', 'list', '--json'], env);
    const asOutputJson = await runCli(['users', 'list', '--output', 'json'], env);
    const asYaml = await runCli(['users', 'list', '-o', 'yaml'], env);
    for (const run of [asJson, asOutputJson, asYaml]) assert.equal(run.status, 0, run.stderr);
    assert.equal(asOutputJson.stdout, asJson.stdout);
    const users = JSON.parse(asJson.stdout) as { username: string }[];
    assert.deepEqual(parse(asYaml.stdout), users);
    assert.ok(!asYaml.stdout.trimStart().startsWith('['), 'YAML, not JSON');
    assert.ok(users.some((user) => user.username === 'root'));

    const table = await runCli(['users', 'list'], env);
    const explicitTable = await runCli(['users', 'list', '-o', 'table'], env);
    assert.match(table.stdout, /^USERNAME\s+ID\s+ENABLED/);
    assert.equal(explicitTable.stdout, table.stdout);
  });

  test('with a document on stdout, notes for people go to stderr', async () => {
    const shown = await runCli(['api-key', 'show', '-o', 'yaml'], env);
    assert.equal(shown.status, 0, shown.stderr);
    const key = parse(shown.stdout) as { username: string; apiKey: string };
    assert.equal(key.username, 'root');
    assert.match(key.apiKey, /^[0-9a-f]{32}$/);
    assert.match(shown.stderr, /without MFA/);

    const who = await runCli(['--output', 'yaml', 'whoami'], env);
    assert.equal(who.status, 0, who.stderr);
    assert.equal((parse(who.stdout) as { user: { username: string } }).user.username, 'root');
  });

  test('streams are one YAML document per record', async () => {
    const events = await runCli(['events', '-o', 'yaml'], env);
    assert.equal(events.status, 0, events.stderr);
    const documents = parseAllDocuments(events.stdout);
    assert.ok(Array.isArray(documents) && documents.length > 0, events.stdout);
    for (const document of documents) assert.equal(typeof document.toJS().type, 'string');
  });

  test('-o value prints the values alone: rows without the header, a record one value per line', async () => {
    const users = JSON.parse((await runCli(['users', 'list', '--json'], env)).stdout) as {
      username: string;
      id: string;
    }[];
    const root = users.find((user) => user.username === 'root');
    assert.ok(root);
    const values = await runCli(['users', 'list', '-o', 'value'], env);
    assert.equal(values.status, 0, values.stderr);
    assert.doesNotMatch(values.stdout, /USERNAME/);
    const lines = values.stdout.trimEnd().split('\n');
    assert.equal(lines.length, users.length, 'one line per user');
    assert.ok(
      lines.some((line) => line.startsWith(`root ${root.id} `)),
      values.stdout,
    );

    const who = await runCli(['whoami', '-o', 'value'], env);
    assert.equal(who.status, 0, who.stderr);
    assert.ok(
      who.stdout.split('\n').some((line) => line.startsWith('root')),
      who.stdout,
    );
    assert.doesNotMatch(who.stdout, /Username/i, 'no labels');
  });

  test('an unknown format, or --json beside another format, is a usage error', async () => {
    const xml = await runCli(['users', 'list', '-o', 'xml'], env);
    assert.equal(xml.status, 2);
    assert.match(xml.stderr, /table, json, yaml, value/);
    const both = await runCli(['users', 'list', '--json', '-o', 'yaml'], env);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--json is --output json/);
  });
});

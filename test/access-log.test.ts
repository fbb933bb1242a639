import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { accessLogWriter } from '../src/server/access-log.js';
import { createLogger } from '../src/server/main.js';
import { createAdmin, createTestEnv, type TestEnv } from './support/harness.js';
import { ROOT, serveFromSources } from './support/process.js';

/** Access lines are written once per turn of the event loop. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function capture(level: string) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  const log = createLogger(
    loadConfig({ LATCHKEY_LOG_LEVEL: level, LATCHKEY_DATA_DIR: '/nonexistent' }),
    sink,
  );
  return { log, lines };
}

describe('the access log', () => {
  test('writes the very line pino writes for the same fields, keys in the same order', () => {
    const { log, lines } = capture('info');
    const fields = { reqId: 'req-1f', method: 'GET', route: '/v2.0/tokens/:tokenId', status: 200, ms: 0.4 };
    log.info(fields, 'request');
    const accessLog = accessLogWriter(log);
    accessLog.write(fields);
    accessLog.close();
    assert.equal(lines.length, 2);
    const [byPino, ours] = lines.map((line) => line.replace(/"time":\d+/, '"time":0'));
    assert.equal(ours, byPino);
  });

  test('quotes what JSON needs quoted, so a line always parses', () => {
    const { log, lines } = capture('info');
    const accessLog = accessLogWriter(log);
    accessLog.write({ reqId: 'req-"x\\', method: 'GET', route: '/a/"b"', status: 404, ms: 1 });
    accessLog.close();
    const parsed = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(parsed.reqId, 'req-"x\\');
    assert.equal(parsed.route, '/a/"b"');
  });

  test('writes the lines of one turn in one write, and what waits when it closes', async () => {
    const { log, lines } = capture('info');
    const accessLog = accessLogWriter(log);
    accessLog.write({ reqId: 'req-1', method: 'GET', route: '/health', status: 200, ms: 0.1 });
    accessLog.write({ reqId: 'req-2', method: 'GET', route: '/health', status: 200, ms: 0.1 });
    assert.deepEqual(lines, [], 'nothing is written within the turn');
    await nextTurn();
    assert.equal(lines.length, 1);
    const written = String(lines[0]).trim().split('\n');
    assert.deepEqual(
      written.map((line) => (JSON.parse(line) as { reqId: string }).reqId),
      ['req-1', 'req-2'],
    );
    accessLog.write({ reqId: 'req-3', method: 'GET', route: '/health', status: 200, ms: 0.1 });
    accessLog.close();
    assert.equal(lines.length, 2, 'closing writes the line still waiting');
  });

  test('writes nothing below its level', () => {
    const { log, lines } = capture('warn');
    const accessLog = accessLogWriter(log);
    accessLog.write({ reqId: 'req-1', method: 'GET', route: '/health', status: 200, ms: 0.1 });
    accessLog.close();
    assert.deepEqual(lines, []);
  });

  describe('in a running app', () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ env: { LATCHKEY_LOG_LEVEL: 'info' } });
    });
    after(() => env.close());

    test('a validation logs one line with the route pattern, never the token id', async () => {
      const { token } = await createAdmin(env);
      await nextTurn();
      env.logs.length = 0;
      const response = await env.request('GET', `/v2.0/tokens/${token}`, { token });
      assert.equal(response.status, 200);
      await nextTurn();
      const requestLines = env.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.equal(requestLines.length, 1);
      assert.deepEqual(
        { ...requestLines[0], time: 0, pid: 0, hostname: '', reqId: '' },
        {
          level: 30,
          time: 0,
          pid: 0,
          hostname: '',
          reqId: '',
          method: 'GET',
          route: '/v2.0/tokens/:tokenId',
          status: 200,
          ms: requestLines[0]?.ms,
          msg: 'request',
        },
      );
      assert.ok(!env.logs.join('').includes(token));
    });

    test("a line a request logs itself carries the request id of that request's access line", async () => {
      await nextTurn();
      env.logs.length = 0;
      const refused = await env.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: {
          origin: 'https://evil.example',
          accept: 'text/html',
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: 'username=nobody&password=Wrongpass1',
      });
      assert.equal(refused.statusCode, 403);
      await nextTurn();
      const lines = env.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      const warning = lines.find((line) => line.msg === 'cross-origin form post refused');
      const access = lines.find((line) => line.msg === 'request');
      assert.equal(warning?.level, 40);
      assert.equal(warning?.origin, 'https://evil.example');
      assert.match(String(access?.reqId), /^req-/);
      assert.equal(warning?.reqId, access?.reqId);
    });
  });
});

describe('log lines of a process', () => {
  test('a line still in the buffer is written when the process exits at once', () => {
    const script = [
      "import { createLogger } from './src/server/main.ts';",
      "import { loadConfig } from './src/config/config.ts';",
      "const log = createLogger(loadConfig({ LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_DATA_DIR: '/nonexistent' }));",
      "log.info({ step: 'last' }, 'written before exit');",
      'process.exit(3);',
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(run.status, 3, run.stderr);
    assert.match(run.stdout, /"step":"last","msg":"written before exit"/);
  });

  test('every answered request is in standard output once the server has stopped', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-access-log-'));
    const server = await serveFromSources({ LATCHKEY_DATA_DIR: dataDir });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${server.url}/health`)).status, 200);
      // Fewer bytes than a batch: they wait in the buffer until the stop writes them out.
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      const healthLines = server.output
        .join('')
        .split('\n')
        .filter((line) => line.includes('"route":"/health"'));
      // untilHealthy asked at least once before the five.
      assert.ok(healthLines.length >= 6, `${healthLines.length} lines:\n${server.output.join('')}`);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

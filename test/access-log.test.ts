import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { accessLogWriter } from '../src/server/access-log.js';
import { batchedLines } from '../src/server/batched-lines.js';
import { createLogger } from '../src/server/main.js';
import { createAdmin, createTestEnv, type TestEnv } from './support/harness.js';
import { ROOT, serveFromSources } from './support/process.js';

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
    accessLogWriter(log)(fields);
    assert.equal(lines.length, 2);
    const [byPino, ours] = lines.map((line) => line.replace(/"time":\d+/, '"time":0'));
    assert.equal(ours, byPino);
  });

  test('quotes what JSON needs quoted, so a line always parses', () => {
    const { log, lines } = capture('info');
    accessLogWriter(log)({ reqId: 'req-"x\\', method: 'GET', route: '/a/"b"', status: 404, ms: 1 });
    const parsed = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(parsed.reqId, 'req-"x\\');
    assert.equal(parsed.route, '/a/"b"');
  });

  test('writes nothing below its level', () => {
    const { log, lines } = capture('warn');
    accessLogWriter(log)({ reqId: 'req-1', method: 'GET', route: '/health', status: 200, ms: 0.1 });
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
      env.logs.length = 0;
      const response = await env.request('GET', `/v2.0/tokens/${token}`, { token });
      assert.equal(response.status, 200);
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

describe('log lines in batches', () => {
  function target() {
    const writes: string[] = [];
    let flushes = 0;
    return {
      writes,
      flushes: () => flushes,
      target: {
        write: (chunk: string) => writes.push(chunk),
        flushSync: () => {
          flushes++;
        },
      },
    };
  }

  test("a batch is written once it is full, in the order of its lines, pino's own among them", () => {
    const { writes, target: to } = target();
    const lines = batchedLines(to, { characters: 200, maxDelayMs: 200 });
    const log = createLogger(
      loadConfig({ LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_DATA_DIR: '/nonexistent' }),
      lines,
    );
    const access = accessLogWriter(log);
    access({ reqId: 'req-1', method: 'GET', route: '/health', status: 200, ms: 0.1 });
    assert.deepEqual(writes, [], 'one line is not a batch yet');
    log.warn({ step: 2 }, 'between');
    assert.equal(writes.length, 1, 'two lines past 200 characters are');
    access({ reqId: 'req-3', method: 'GET', route: '/health', status: 200, ms: 0.1 });
    lines.flushSync();
    const order = writes
      .join('')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { reqId?: string; msg: string }).reqId ?? 'warning');
    assert.deepEqual(order, ['req-1', 'warning', 'req-3']);
  });

  test("a line waits 200 ms at most, and pino's flush writes what waits", (context) => {
    context.mock.timers.enable({ apis: ['setTimeout'] });
    const { writes, flushes, target: to } = target();
    const lines = batchedLines(to, { characters: 4096, maxDelayMs: 200 });
    lines.write('{"a":1}\n');
    context.mock.timers.tick(199);
    assert.deepEqual(writes, []);
    context.mock.timers.tick(1);
    assert.deepEqual(writes, ['{"a":1}\n']);
    lines.write('{"b":2}\n');
    let flushed = false;
    lines.flush(() => {
      flushed = true;
    });
    assert.deepEqual(writes, ['{"a":1}\n', '{"b":2}\n']);
    assert.ok(flushed);
    assert.equal(flushes(), 1, 'the destination is flushed too');
    context.mock.timers.tick(1000);
    assert.equal(writes.length, 2, 'no empty batch is written later');
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

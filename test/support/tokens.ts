import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tokenOf } from './api.js';
import type { TestEnv, TestUser } from './harness.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

export const CATALOG = [
  {
    name: 'cloudServersOpenStack',
    type: 'compute',
    endpoints: [
      {
        region: 'DFW',
        tenantId: '{tenantId}',
        publicURL: 'https://dfw.servers.example.com/v2/{tenantId}',
        versionId: '2',
      },
    ],
  },
  {
    name: 'cloudFiles',
    type: 'object-store',
    endpoints: [
      {
        region: 'DFW',
        tenantId: 'files_{tenantId}',
        publicURL: 'https://storage.example.com/v1/files_{tenantId}',
        internalURL: 'https://snet-storage.example.com/v1/files_{tenantId}',
      },
    ],
  },
];

export function catalogFor(tenantId: string): unknown[] {
  return JSON.parse(JSON.stringify(CATALOG).replaceAll('{tenantId}', tenantId)) as unknown[];
}

export function writeCatalog(): { file: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-catalog-'));
  const file = path.join(dir, 'catalog.json');
  fs.writeFileSync(file, JSON.stringify(CATALOG));
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A SETUP-MFA token: the user must set up MFA (user level REQUIRED) and asks for the scope. */
export async function setupMfaToken(env: TestEnv, user: TestUser): Promise<string> {
  await env.deps.db
    .updateTable('users')
    .set({ mfa_enforcement: 'REQUIRED' })
    .where('id', '=', user.id)
    .execute();
  const response = await env.request('POST', '/v2.0/tokens', {
    body: {
      auth: {
        passwordCredentials: { username: user.username, password: user.password },
        'RAX-AUTH:scope': 'SETUP-MFA',
      },
    },
  });
  return tokenOf(response);
}

export const unknownTokenId = (): string => 'f'.repeat(32);

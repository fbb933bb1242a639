import assert from 'node:assert/strict';
import type { Response, TestEnv, TestUser } from './harness.js';
import { passwordLogin, setRole, uniqueName } from './harness.js';

/** The contract's error shape (reference §2.1): one root key, the fault, with code and message. */
export function assertFault(response: Response, status: number, fault: string, message?: string): void {
  assert.equal(
    response.status,
    status,
    `expected ${status} ${fault}, got ${response.status} ${response.text}`,
  );
  assert.deepEqual(Object.keys(response.body), [fault], `fault root of ${response.text}`);
  const inner = response.body[fault] as { code: unknown; message: unknown };
  assert.deepEqual(Object.keys(inner).sort(), ['code', 'message'], `fault keys of ${response.text}`);
  assert.equal(inner.code, status);
  assert.equal(typeof inner.message, 'string');
  if (message !== undefined) assert.equal(inner.message, message);
}

export interface AccessBody {
  token: {
    id: string;
    expires: string;
    tenant?: { id: string; name: string };
    'RAX-AUTH:authenticatedBy': string[];
  };
  user: {
    id: string;
    name: string;
    roles: { id: string; name: string; description: string }[];
    'RAX-AUTH:defaultRegion': string;
    'RAX-AUTH:domainId'?: string;
    'RAX-AUTH:multiFactorEnabled': boolean;
    'RAX-AUTH:federated': boolean;
  };
  serviceCatalog?: unknown[];
}

export function accessOf(response: Response): AccessBody {
  assert.equal(response.status, 200, `expected 200 access, got ${response.status} ${response.text}`);
  return response.body.access as unknown as AccessBody;
}

export function tokenOf(response: Response): string {
  return accessOf(response).token.id;
}

export interface UserBody {
  id: string;
  username: string;
  email?: string;
  enabled: boolean;
  created: string;
  updated: string;
  'RAX-AUTH:domainId'?: string;
  'RAX-AUTH:defaultRegion': string;
  'RAX-AUTH:multiFactorEnabled': boolean;
  'OS-KSADM:password'?: string;
  [key: string]: unknown;
}

export function userOf(response: Response): UserBody {
  return response.body.user as unknown as UserBody;
}

export function apiKeyLogin(env: TestEnv, username: string, apiKey: string): Promise<Response> {
  return env.request('POST', '/v2.0/tokens', {
    body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username, apiKey } } },
  });
}

export const apiKeyPath = (userId: string): string =>
  `/v2.0/users/${userId}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`;

/** A sub-user of `owner`'s account promoted to identity:user-manage, logged in again. */
export async function createUserManager(env: TestEnv, owner: TestUser): Promise<TestUser> {
  const username = uniqueName('manager');
  const created = await env.request('POST', '/v2.0/users', {
    token: owner.token,
    body: { user: { username, 'OS-KSADM:password': owner.password } },
  });
  assert.equal(created.status, 201, created.text);
  const id = userOf(created).id;
  const user: TestUser = {
    id,
    username,
    password: owner.password,
    token: '',
    apiKey: '',
    domainId: owner.domainId,
  };
  await setRole(env, user, 'identity:user-manage');
  user.token = tokenOf(await passwordLogin(env, username, owner.password));
  return user;
}

export const HEX32 = /^[0-9a-f]{32}$/;

/** An ISO 8601 time with milliseconds in UTC, as the API writes every time. */
export const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

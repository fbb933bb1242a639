import assert from 'node:assert/strict';
import { accessOf, apiKeyLogin, apiKeyPath, tokenOf } from './api.js';
import { createUserVia, type TestEnv, type TestUser } from './harness.js';
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './mfa.js';

/** A user holding every kind of stored secret: a password, an API key, a TOTP seed, bypass codes. */
export interface SecretHolder {
  user: TestUser;
  totpSecret: string;
  bypassCodes: string[];
}

export async function totpLogin(env: TestEnv, holder: SecretHolder) {
  const { sessionId } = await startMfaLogin(env, holder.user);
  const response = await sendPasscode(env, sessionId, totpAt(holder.totpSecret, env.clock.now()));
  // Each code is accepted once: the next login uses the next time step.
  env.clock.advance(30_000);
  return response;
}

export async function bypassLogin(env: TestEnv, holder: SecretHolder, code: string) {
  const { sessionId } = await startMfaLogin(env, holder.user);
  return sendPasscode(env, sessionId, code);
}

/** Made over HTTP on `env` by `owner`: an authenticator, MFA on, and three never-expiring bypass codes. */
export async function secretHolder(env: TestEnv, owner: TestUser): Promise<SecretHolder> {
  const user = await createUserVia(env, owner);
  const totpSecret = await enableOtp(env, user);
  const holder: SecretHolder = { user, totpSecret, bypassCodes: [] };
  user.token = tokenOf(await totpLogin(env, holder));
  const generated = await env.request('POST', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/bypass-codes`, {
    token: user.token,
    body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: 3 } },
  });
  assert.equal(generated.status, 200, generated.text);
  holder.bypassCodes = (generated.body['RAX-AUTH:bypassCodes'] as { codes: string[] }).codes;
  return holder;
}

/**
 * On `env`: the holder's token is still valid, its API key logs in and reads back unchanged,
 * its authenticator and every bypass code complete a two-step login, and a used code stays used.
 */
export async function assertEverySecretWorks(env: TestEnv, holder: SecretHolder): Promise<void> {
  const { user } = holder;
  const readBack = await env.request('GET', apiKeyPath(user.id), { token: user.token });
  assert.equal(readBack.status, 200, `the token issued earlier is valid: ${readBack.text}`);
  assert.equal(
    (readBack.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey,
    user.apiKey,
    'the API key reads back unchanged',
  );
  assert.equal(accessOf(await apiKeyLogin(env, user.username, user.apiKey)).user.id, user.id);
  assert.deepEqual(accessOf(await totpLogin(env, holder)).token['RAX-AUTH:authenticatedBy'], [
    'OTPPASSCODE',
    'PASSWORD',
  ]);
  for (const code of holder.bypassCodes) tokenOf(await bypassLogin(env, holder, code));
  assert.equal(
    (await bypassLogin(env, holder, holder.bypassCodes[0] ?? '')).status,
    401,
    'a used bypass code stays used',
  );
}

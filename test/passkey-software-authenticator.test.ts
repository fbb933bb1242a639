import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { optionsInPage, SoftwareAuthenticator } from '../bench/software-authenticator.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { PanelClient, type PanelResponse } from './support/panel-client.js';

/**
 * The panel's passkey ceremonies over HTTP with the software authenticator the benchmark signs
 * with (bench/software-authenticator.ts): what the server accepts from it, and what it refuses.
 * The browser suites (panel-passkeys*.test.ts) drive Chromium's virtual authenticator; these
 * run without a browser, and reach answers a browser would never send.
 */
// Passkeys are offered only at the public URL's name: every request is addressed to it.
const ORIGIN = 'http://localhost';
const AT_ORIGIN = { host: 'localhost', origin: ORIGIN };
const NOT_ACCEPTED = /That passkey or security key was not accepted/;

for (const dialect of dialects()) {
  describe(`passkeys over HTTP, signed by a software authenticator (${dialect})`, () => {
    let env: TestEnv;
    let owner: TestUser;
    let pat: TestUser;
    const authenticator = new SoftwareAuthenticator({ origin: ORIGIN });

    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_PUBLIC_URL: ORIGIN } });
      owner = await createAccount(env, await createAdmin(env));
      pat = await createUserVia(env, owner, 'pat');
    });
    after(() => env?.close());

    /** Refusals recorded for `reason` (repeats within a minute share a row and count up). */
    const refusals = async (reason: string): Promise<number> =>
      (
        await env.deps.db
          .selectFrom('security_events')
          .select(['detail', 'count'])
          .where('type', '=', 'passkey.refused')
          .execute()
      )
        .filter((row) => (JSON.parse(row.detail) as { reason?: string }).reason === reason)
        .reduce((sum, row) => sum + Number(row.count), 0);
    const userRow = (id: string) =>
      env.deps.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const passkeyRow = (id: string) =>
      env.deps.db.selectFrom('passkeys').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();

    /** "Log In with a Passkey" up to the prompt: the browser, its page and the options. */
    async function passwordlessPrompt(): Promise<{
      client: PanelClient;
      options: PublicKeyCredentialRequestOptionsJSON;
    }> {
      const client = new PanelClient(env);
      await client.get('/sign-in', AT_ORIGIN);
      const page = await client.post('/sign-in/with-passkey', {}, AT_ORIGIN);
      assert.equal(page.status, 200, page.body.slice(0, 300));
      return { client, options: optionsInPage(page.body) };
    }

    const answer = (client: PanelClient, response: AuthenticationResponseJSON): Promise<PanelResponse> =>
      client.post('/sign-in/with-passkey/verify', { response: JSON.stringify(response) }, AT_ORIGIN);

    const assertRefused = (response: PanelResponse, client: PanelClient) => {
      assert.equal(response.status, 401, response.body.slice(0, 300));
      assert.match(response.body, NOT_ACCEPTED);
      assert.equal(client.cookies.has('lk_session'), false, 'no session');
      // The page offers the passkey again, with a fresh challenge.
      assert.ok(optionsInPage<PublicKeyCredentialRequestOptionsJSON>(response.body).challenge);
    };

    test('a passkey added in the panel signs in without a password, and the token says so', async () => {
      const client = new PanelClient(env);
      await client.get('/sign-in', AT_ORIGIN);
      const signedIn = await client.post(
        '/sign-in',
        { username: pat.username, password: pat.password },
        AT_ORIGIN,
      );
      assert.equal(signedIn.status, 303, signedIn.body.slice(0, 300));
      await client.get('/profile/passkeys/new', AT_ORIGIN);
      const prompt = await client.post('/profile/passkeys/new', { nickname: 'Laptop' }, AT_ORIGIN);
      assert.equal(prompt.status, 200, prompt.body.slice(0, 300));
      const created = authenticator.create(
        optionsInPage<PublicKeyCredentialCreationOptionsJSON>(prompt.body),
      );
      const added = await client.post('/profile/passkeys', { response: JSON.stringify(created) }, AT_ORIGIN);
      assert.equal(added.status, 303, added.body.slice(0, 300));
      assert.equal(added.headers.location, '/sign-in');
      const user = await userRow(pat.id);
      assert.equal(user.mfa_enabled, 1);
      assert.equal(user.factor_type, 'PASSKEY');
      const stored = await passkeyRow(pat.id);
      assert.equal(stored.credential_id, created.id);
      assert.equal(stored.nickname, 'Laptop');
      assert.equal(stored.backup_eligible, 0, 'a device-bound passkey');

      const { client: browser, options } = await passwordlessPrompt();
      assert.deepEqual(options.allowCredentials ?? [], [], 'any discoverable passkey may answer');
      assert.equal(options.userVerification, 'required');
      const signed = await answer(browser, authenticator.get(options));
      assert.equal(signed.status, 303, signed.body.slice(0, 300));
      assert.equal(signed.headers.location, '/profile');
      assert.ok(browser.cookies.has('lk_session'));
      const profile = await browser.get('/profile', AT_ORIGIN);
      assert.equal(profile.status, 200);
      assert.ok(profile.body.includes(pat.username));
      const tokens = await env.deps.db
        .selectFrom('tokens')
        .select('authenticated_by')
        .where('user_id', '=', pat.id)
        .where('revoked_at', 'is', null)
        .execute();
      assert.deepEqual(
        tokens.map((token) => token.authenticated_by),
        ['PASSKEY'],
      );
      const used = await passkeyRow(pat.id);
      assert.equal(used.sign_count, 1);
      assert.equal(used.last_used_at, env.clock.now());
    });

    test('a tampered signature is refused, recorded as "signature", and counts as a failed factor', async () => {
      const before = await refusals('signature');
      const failedBefore = (await userRow(pat.id)).mfa_failed_count;
      const { client, options } = await passwordlessPrompt();
      const assertion = authenticator.get(options);
      const signature = Buffer.from(assertion.response.signature, 'base64url');
      // The last byte of the DER signature is the last of s: still DER, no longer the signature.
      signature[signature.length - 1] = (signature[signature.length - 1] ?? 0) ^ 1;
      assertion.response.signature = signature.toString('base64url');
      assertRefused(await answer(client, assertion), client);
      assert.equal(await refusals('signature'), before + 1);
      assert.equal((await userRow(pat.id)).mfa_failed_count, failedBefore + 1);
      assert.equal((await passkeyRow(pat.id)).sign_count, 1, 'the counter stays where it was');
    });

    test('a signature counter that goes backwards (a copied key) is refused; the key ahead signs in', async () => {
      const [credential] = authenticator.credentials;
      assert.ok(credential);
      const before = await refusals('counter');
      // The copy signs with the same key and a counter behind the one the server has seen.
      const copy = SoftwareAuthenticator.holding({ origin: ORIGIN }, [
        { ...credential.toRecord(), signCount: 0 },
      ]);
      const first = await passwordlessPrompt();
      assertRefused(await answer(first.client, copy.get(first.options)), first.client);
      assert.equal(await refusals('counter'), before + 1);
      assert.equal((await passkeyRow(pat.id)).sign_count, 1);

      const second = await passwordlessPrompt();
      const signed = await answer(second.client, authenticator.get(second.options));
      assert.equal(signed.status, 303, signed.body.slice(0, 300));
      assert.equal((await passkeyRow(pat.id)).sign_count, credential.signCount);
    });

    test('without user verification the passkey alone is refused: it is not two factors', async () => {
      const [credential] = authenticator.credentials;
      assert.ok(credential);
      const before = await refusals('signature');
      // A key that only checks presence (no PIN, no fingerprint), answering anyway.
      const touchOnly = SoftwareAuthenticator.holding({ origin: ORIGIN, userVerifying: false }, [
        credential.toRecord(),
      ]);
      const { client, options } = await passwordlessPrompt();
      assertRefused(await answer(client, touchOnly.get(options)), client);
      assert.equal(await refusals('signature'), before + 1);
    });

    test('a good sign-in with a passkey alone resets the count of refused answers, so earlier ones never add to later ones', async () => {
      // A user of its own, so the failures of the tests above do not count here.
      const sam = await createUserVia(env, owner, 'sam');
      const samsKey = new SoftwareAuthenticator({ origin: ORIGIN });
      const client = new PanelClient(env);
      await client.get('/sign-in', AT_ORIGIN);
      await client.post('/sign-in', { username: sam.username, password: sam.password }, AT_ORIGIN);
      await client.get('/profile/passkeys/new', AT_ORIGIN);
      const prompt = await client.post('/profile/passkeys/new', { nickname: 'Phone' }, AT_ORIGIN);
      const created = samsKey.create(optionsInPage<PublicKeyCredentialCreationOptionsJSON>(prompt.body));
      assert.equal(
        (await client.post('/profile/passkeys', { response: JSON.stringify(created) }, AT_ORIGIN)).status,
        303,
      );
      const tampered = (options: PublicKeyCredentialRequestOptionsJSON): AuthenticationResponseJSON => {
        const assertion = samsKey.get(options);
        const signature = Buffer.from(assertion.response.signature, 'base64url');
        signature[signature.length - 1] = (signature[signature.length - 1] ?? 0) ^ 1;
        return {
          ...assertion,
          response: { ...assertion.response, signature: signature.toString('base64url') },
        };
      };
      const refusedAnswers = async (count: number) => {
        for (let attempt = 1; attempt <= count; attempt++) {
          const { client: browser, options } = await passwordlessPrompt();
          assertRefused(await answer(browser, tampered(options)), browser);
        }
      };
      const signsIn = async () => {
        const { client: browser, options } = await passwordlessPrompt();
        const signed = await answer(browser, samsKey.get(options));
        assert.equal(signed.status, 303, signed.body.slice(0, 300));
        assert.ok(browser.cookies.has('lk_session'));
      };
      const threshold = env.deps.config.lockoutThreshold;
      // Locks last until an administrator unlocks (LATCHKEY_MFA_LOCKOUT_SECONDS=0): no failure
      // grows old, only a good sign-in can start the count afresh.
      assert.equal(env.deps.config.lockoutSeconds, 0);
      await refusedAnswers(threshold - 1);
      assert.equal((await userRow(sam.id)).mfa_failed_count, threshold - 1);
      env.clock.advance(60_000);
      await signsIn();
      assert.equal((await userRow(sam.id)).mfa_failed_count, 0);
      env.clock.advance(3600_000);
      // As many refusals again would lock only if the first ones still counted.
      await refusedAnswers(threshold - 1);
      await signsIn();
      const locked = await env.deps.db
        .selectFrom('security_events')
        .select('id')
        .where('type', '=', 'mfa.locked')
        .where('user_id', '=', sam.id)
        .execute();
      assert.deepEqual(locked, []);
    });

    test('refused answers lock the user at the threshold; then even a good passkey is refused, and the lock stays', async () => {
      const kim = await createUserVia(env, owner, 'kim');
      const kimsKey = new SoftwareAuthenticator({ origin: ORIGIN });
      const client = new PanelClient(env);
      await client.get('/sign-in', AT_ORIGIN);
      await client.post('/sign-in', { username: kim.username, password: kim.password }, AT_ORIGIN);
      await client.get('/profile/passkeys/new', AT_ORIGIN);
      const prompt = await client.post('/profile/passkeys/new', { nickname: 'Key' }, AT_ORIGIN);
      const created = kimsKey.create(optionsInPage<PublicKeyCredentialCreationOptionsJSON>(prompt.body));
      await client.post('/profile/passkeys', { response: JSON.stringify(created) }, AT_ORIGIN);
      const threshold = env.deps.config.lockoutThreshold;
      for (let attempt = 1; attempt <= threshold; attempt++) {
        const { client: browser, options } = await passwordlessPrompt();
        const assertion = kimsKey.get(options);
        const signature = Buffer.from(assertion.response.signature, 'base64url');
        signature[signature.length - 1] = (signature[signature.length - 1] ?? 0) ^ 1;
        assertion.response.signature = signature.toString('base64url');
        const refused = await answer(browser, assertion);
        assert.equal(refused.status, attempt < threshold ? 401 : 403, `attempt ${attempt}`);
      }
      const { client: browser, options } = await passwordlessPrompt();
      const good = await answer(browser, kimsKey.get(options));
      assert.equal(good.status, 403, good.body.slice(0, 300));
      assert.match(good.body, /Your account is locked because an incorrect passcode was entered/);
      assert.equal(browser.cookies.has('lk_session'), false, 'no session');
      assert.equal(
        (await userRow(kim.id)).mfa_failed_count,
        threshold,
        'the good passkey did not lift the lock',
      );
    });

    test('an answer signed for another origin is refused as "origin"', async () => {
      const [credential] = authenticator.credentials;
      assert.ok(credential);
      const before = await refusals('origin');
      const elsewhere = SoftwareAuthenticator.holding({ origin: 'http://login.localhost' }, [
        credential.toRecord(),
      ]);
      const { client, options } = await passwordlessPrompt();
      assertRefused(await answer(client, elsewhere.get(options)), client);
      assert.equal(await refusals('origin'), before + 1);
    });
  });
}

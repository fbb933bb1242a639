import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { assertErrorPage, BROWSER_ACCEPT, PanelClient } from './support/panel-client.js';

const NUL = '%00';

for (const dialect of dialects()) {
  describe(`hostile input in the panel is refused at the edge, with its HTML error page (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    const errorLines = () => env.logs.filter((line) => line.includes('"level":50')).length;

    test('regression: a NUL in the sign-in username, /admin/accounts?q= or an authenticator id was a 500 on PostgreSQL', async () => {
      const before = errorLines();
      const visitor = new PanelClient(env);
      await visitor.get('/sign-in');
      for (const fields of [
        `username=${owner.username}${NUL}&password=x`,
        `username=${owner.username}&password=Secret${NUL}`,
        `username=a%1Fb&password=x`,
        `username=a%01b&password=x`,
      ]) {
        assertErrorPage(await visitor.post('/sign-in', fields), 400, /control characters/);
      }
      assertErrorPage(await visitor.post('/sign-in/passcode', `passcode=12${NUL}`), 400);

      const adminPanel = await PanelClient.signedIn(env, admin);
      const ownerPanel = await PanelClient.signedIn(env, owner);
      for (const [client, url] of [
        [adminPanel, `/admin/accounts?q=a${NUL}b`],
        [adminPanel, `/admin/accounts?to=${NUL}`],
        [adminPanel, `/admin/accounts/${owner.domainId}/users?q=${NUL}`],
        [adminPanel, `/admin/accounts/${owner.domainId}${NUL}`],
        [adminPanel, `/admin/accounts/${owner.domainId}/users/${owner.id}${NUL}`],
        [adminPanel, `/admin/accounts/${owner.domainId}/events?type=${NUL}`],
        [ownerPanel, `/profile/authenticator/${NUL}`],
        [ownerPanel, `/profile/authenticator/abc${NUL}def`],
        [ownerPanel, `/profile/sms/${NUL}`],
        [ownerPanel, `/profile?x=%7F`],
      ] as const) {
        assertErrorPage(await client.get(url), 400, /control characters/);
      }
      for (const [url, fields] of [
        [`/profile/authenticator/${NUL}/delete`, ''],
        ['/profile/authenticator', `name=phone${NUL}`],
        ['/profile/sms', `country=US&number=201555${NUL}0123`],
        ['/profile/mfa/default', `factor=${NUL}`],
      ] as const) {
        assertErrorPage(await ownerPanel.post(url, fields), 400, /control characters/);
      }
      assert.equal(errorLines(), before, 'no error (and no stack) in the log');
    });

    test('an over-long value in a panel URL is a 400 page, not a query', async () => {
      const adminPanel = await PanelClient.signedIn(env, admin);
      assertErrorPage(await adminPanel.get(`/admin/accounts?q=${'x'.repeat(5000)}`), 400);
    });

    test('a URL the router cannot read answers the panel page to a browser', async () => {
      const response = await env.app.inject({
        method: 'GET',
        url: '/profile/%zz',
        headers: { accept: BROWSER_ACCEPT },
      });
      assert.equal(response.statusCode, 400);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.match(String(response.headers['content-security-policy']), /default-src 'self'/);
    });
  });
}

describe('the panel names the per-address limit on failed logins as such', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ env: { LATCHKEY_LOGIN_FAILURES_PER_SOURCE: '3' } });
  });
  after(() => env.close());

  test('regression: a per-address 429 read "Too many text messages were sent to your phone"', async () => {
    const owner = await createAccount(env);
    const visitor = new PanelClient(env, '203.0.113.9');
    await visitor.get('/sign-in');
    let last = await visitor.post('/sign-in', { username: owner.username, password: 'Wrongpass1' });
    for (let attempt = 0; attempt < 3; attempt++) {
      last = await visitor.post('/sign-in', { username: owner.username, password: 'Wrongpass1' });
    }
    assert.equal(last.status, 429);
    assert.doesNotMatch(last.body, /text messages/);
    assert.match(
      last.body,
      /Too many failed login attempts from this address\. Wait \d+ minutes?, then try again\./,
    );
  });
});

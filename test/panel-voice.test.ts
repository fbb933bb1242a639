import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, totpAt } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';

/**
 * One voice in the control panel: every page a signed-in administrator, account owner and
 * ordinary user can reach by following links is read as HTML and held to the panel's rules:
 * - the tab's title is the page's h1 (then, after " · ", the account it concerns and the site name);
 * - signing in is "Log in" / "Log out", as the buttons say: no "sign in", "signed in", "sign-out"
 *   in what a person reads (addresses such as /sign-in are not read, and stay);
 * - buttons are in Title Case: every word capitalised but the short joining words
 *   (a, an, and, as, at, by, for, from, in, of, on, or, the, to, with) after the first,
 *   as in "Add Device", "Generate Bypass Codes", "Log Out".
 */

const SITE = ' · Latchkey';
const JOINING_WORDS = new Set('a an and as at by for from in of on or the to with'.split(' '));
const SIGN_IN_WORDS = /\bsign(?:ed|s|ing)?[-\s]?(?:in|out|ins|outs)\b/gi;

export interface PageVoice {
  url: string;
  title: string;
  headings: string[];
  h1: string[];
  buttons: string[];
  text: string;
}

const decode = (html: string): string =>
  html
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&nbsp;|&#160;/g, ' ');

/** Text a person reads: tags, scripts and styles out, entities decoded, spaces collapsed. */
const textOf = (html: string): string =>
  decode(html.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();

const all = (html: string, pattern: RegExp): string[] =>
  [...html.matchAll(pattern)].map((match) => textOf(match[1] ?? ''));

const withoutHidden = (html: string): string =>
  html.replace(/<span class="visually-hidden">[\s\S]*?<\/span>/g, '');

/** The title, headings and button labels of a page, with the text a person reads on it. */
export function voiceOf(url: string, html: string): PageVoice {
  const attributeTexts = [...html.matchAll(/\s(?:aria-label|placeholder|title|alt)="([^"]*)"/g)].map(
    (match) => decode(match[1] ?? ''),
  );
  const submitValues = [...html.matchAll(/<input\b[^>]*type="submit"[^>]*>/g)].map((match) =>
    decode(/value="([^"]*)"/.exec(match[0])?.[1] ?? ''),
  );
  return {
    url,
    title: all(html, /<title>([\s\S]*?)<\/title>/g)[0] ?? '',
    headings: all(html, /<h[1-6]\b[^>]*>([\s\S]*?)<\/h[1-6]>/g),
    h1: all(html, /<h1\b[^>]*>([\s\S]*?)<\/h1>/g),
    // A button's visible label: a name it carries for screen readers (a device's, in the user's
    // own words) is not part of the label's case.
    buttons: [
      ...all(withoutHidden(html), /<button\b[^>]*>([\s\S]*?)<\/button>/g),
      ...all(withoutHidden(html), /<a\b[^>]*class="button\b[^"]*"[^>]*>([\s\S]*?)<\/a>/g),
      ...submitValues,
    ],
    text: [textOf(html.replace(/<title>[\s\S]*?<\/title>/, '')), ...attributeTexts].join(' | '),
  };
}

/** Title Case as the panel writes it (see the file's comment); "?" and "…" may end a label. */
export function isTitleCase(label: string): boolean {
  const words = label
    .replace(/[?…!.]+$/, '')
    .split(/\s+/)
    .filter(Boolean);
  return words.every((word, index) => {
    if (index > 0 && JOINING_WORDS.has(word)) return true;
    const first = word.replace(/^[("'“]+/, '').charAt(0);
    return first === '' || !/\p{Ll}/u.test(first);
  });
}

/** What breaks the rules on one page, as readable lines. */
export function offences(page: PageVoice): string[] {
  const found: string[] = [];
  const [h1, ...more] = page.h1;
  if (h1 === undefined || more.length > 0) found.push(`${page.url}: ${page.h1.length} h1 headings`);
  const title = page.title.endsWith(SITE) ? page.title.slice(0, -SITE.length) : page.title;
  if (!page.title.endsWith(SITE)) found.push(`${page.url}: the title "${page.title}" lacks the site name`);
  if (h1 !== undefined && title !== h1 && !title.startsWith(`${h1} · `))
    found.push(`${page.url}: the title "${title}" is not the heading "${h1}"`);
  for (const word of new Set([...`${page.title} | ${page.text}`.matchAll(SIGN_IN_WORDS)].map((m) => m[0])))
    found.push(`${page.url}: "${word}" where the panel says "Log in" / "Log out"`);
  for (const label of page.buttons)
    if (!isTitleCase(label)) found.push(`${page.url}: the button "${label}" is not in Title Case`);
  return found;
}

/** Every panel page reachable by links from `start`, with its voice (at most `limit` pages). */
async function crawl(panel: PanelClient, starts: string[], limit = 120): Promise<PageVoice[]> {
  const seen = new Set<string>();
  const queue = [...starts];
  const pages: PageVoice[] = [];
  while (queue.length > 0 && pages.length < limit) {
    const url = queue.shift() as string;
    if (seen.has(url)) continue;
    seen.add(url);
    const response = await panel.get(url);
    const location = response.headers.location;
    if (response.status >= 300 && response.status < 400 && typeof location === 'string') {
      if (location.startsWith('/') && !seen.has(location)) queue.unshift(location);
      continue;
    }
    if (response.status !== 200 || !String(response.headers['content-type']).startsWith('text/html'))
      continue;
    pages.push(voiceOf(url, response.body));
    const links = [
      ...response.body.matchAll(/<a\b[^>]*\shref="(\/[^"#]*)/g),
      ...response.body.matchAll(/<form\b(?=[^>]*method="get")[^>]*\saction="(\/[^"#]*)/gi),
    ];
    for (const match of links) {
      const href = decode(match[1] ?? '');
      // Page after page of events or users reads as the first; assets are not pages.
      if (href.startsWith('/assets/') || /[?&](?:before|after|page|cursor)=/.test(href)) continue;
      if (!seen.has(href)) queue.push(href);
    }
  }
  return pages;
}

describe('control panel: one voice', () => {
  let env: TestEnv;
  let admin: TestUser;
  let owner: TestUser;
  let member: TestUser;
  let withAuthenticator: TestUser;

  before(async () => {
    env = await createTestEnv();
    admin = await createAdmin(env);
    owner = await createAccount(env, admin);
    member = await createUserVia(env, owner, 'member');
    withAuthenticator = await createUserVia(env, owner, 'member');
    // Pages about a device (and the record of a user with one) need a user with a device.
    await enableOtp(env, withAuthenticator);
    await env.request('PUT', `/v2.0/users/${withAuthenticator.id}/RAX-AUTH/multi-factor`, {
      token: admin.token,
      body: { 'RAX-AUTH:multiFactor': { enabled: false } },
    });
  });
  after(() => env.close());

  const everyone = async (): Promise<PageVoice[]> => {
    const pages: PageVoice[] = [];
    const signInPage = await new PanelClient(env).get('/sign-in');
    pages.push(voiceOf('/sign-in', signInPage.body));
    for (const user of [admin, owner, member, withAuthenticator]) {
      const panel = await PanelClient.signedIn(env, user);
      pages.push(
        ...(await crawl(panel, [
          '/profile',
          '/profile/bypass-codes',
          '/admin',
          '/admin/users',
          '/admin/events',
        ])),
      );
    }
    return pages;
  };

  /** Pages only a form leads to: the passcode step, setup, a device's pairing, the bypass codes. */
  const behindForms = async (): Promise<PageVoice[]> => {
    const pages: PageVoice[] = [];
    const record = (url: string, body: string) => pages.push(voiceOf(url, body));
    const notFound = await new PanelClient(env).get('/no/such/page');
    record('/no/such/page', notFound.body);

    // The passcode step, then the bypass codes, of a user with MFA on.
    const mfaUser = await createUserVia(env, owner, 'member');
    const secret = await enableOtp(env, mfaUser);
    const mfaPanel = new PanelClient(env);
    await mfaPanel.get('/sign-in');
    await mfaPanel.post('/sign-in', { username: mfaUser.username, password: mfaUser.password });
    const passcodePage = await mfaPanel.get('/sign-in/passcode');
    assert.equal(passcodePage.status, 200);
    record('/sign-in/passcode', passcodePage.body);
    env.clock.advance(30_000);
    const verified = await mfaPanel.post('/sign-in/passcode', { passcode: totpAt(secret, env.clock.now()) });
    assert.equal(verified.status, 303, verified.body.slice(0, 300));
    await mfaPanel.get('/profile');
    const codes = await mfaPanel.post('/profile/bypass-codes', { count: '2' });
    assert.equal(codes.status, 200, codes.body.slice(0, 300));
    record('/profile/bypass-codes (codes)', codes.body);
    pages.push(...(await crawl(mfaPanel, ['/profile', '/profile/bypass-codes'])));

    // A device being paired: the authenticator's QR code, the phone's PIN.
    const pairing = await PanelClient.signedIn(env, member);
    const authenticator = await pairing.post('/profile/authenticator', { name: 'Work phone' });
    const phone = await pairing.post('/profile/sms', { country: 'US', number: '2015550123' });
    const next = [authenticator, phone].map((response) => String(response.headers.location));
    pages.push(...(await crawl(pairing, next)));

    // Setup, for a user whose account requires multi-factor authentication.
    const strictOwner = await createAccount(env, admin);
    const strictMember = await createUserVia(env, strictOwner, 'member');
    const required = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${strictOwner.domainId}/multi-factor`, {
      token: admin.token,
      body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
    });
    assert.equal(required.status, 204, required.text);
    const setup = new PanelClient(env);
    await setup.get('/sign-in');
    const entered = await setup.post('/sign-in', {
      username: strictMember.username,
      password: strictMember.password,
    });
    pages.push(...(await crawl(setup, [String(entered.headers.location)])));
    return pages;
  };

  test('every page: title equals its heading, "Log in" throughout, buttons in Title Case', async () => {
    const pages = [...(await everyone()), ...(await behindForms())];
    if (process.env.LATCHKEY_PANEL_VOICE_DUMP)
      for (const page of pages) console.log(JSON.stringify({ ...page, text: undefined }));
    const urls = new Set(
      pages.map((page) =>
        page.url.replace(/\/admin\/accounts\/[^/?]+/, '/admin/accounts/:id').replace(/[0-9a-f]{32}/g, ':id'),
      ),
    );
    for (const expected of [
      '/profile',
      '/admin/accounts',
      '/admin/accounts/:id/users/:id',
      '/profile/authenticator/:id',
      '/profile/sms/:id',
      '/sign-in/passcode',
      '/profile/bypass-codes (codes)',
      '/no/such/page',
      '/setup',
      '/setup/method',
    ])
      assert.ok(urls.has(expected), `the crawl reached ${expected}: ${[...urls].join(', ')}`);
    assert.deepEqual(pages.flatMap(offences), []);
  });

  test('the account chooser names an account once, and offers only what can work', async () => {
    const panel = await PanelClient.signedIn(env, admin);
    const chooser = await panel.get(`/admin/accounts?q=${owner.domainId}`);
    const row = textOf(/<tbody>([\s\S]*?)<\/tbody>/.exec(chooser.body)?.[1] ?? '');
    assert.ok(row.includes(String(owner.domainId)), row);
    assert.ok(!row.includes(`${owner.domainId} ${owner.domainId}`), `the number is not repeated: ${row}`);
    // No verified phone: Send Temporary Code would be refused, so it is not offered.
    const record = await panel.get(`/admin/accounts/${owner.domainId}/users/${member.id}`);
    assert.equal(record.status, 200);
    assert.ok(!textOf(record.body).includes('Send Temporary Code'), 'not offered without a phone');
    assert.ok(textOf(record.body).includes('Disable User'), 'the other actions are offered');
  });

  test('the rules catch an offender', () => {
    const planted = voiceOf(
      '/planted',
      '<html><head><title>Planted · Latchkey</title></head><body><h1>Planted page</h1>' +
        '<p>Signed in as someone</p><button type="submit">Copy codes</button></body></html>',
    );
    assert.deepEqual(offences(planted), [
      '/planted: the title "Planted" is not the heading "Planted page"',
      '/planted: "Signed in" where the panel says "Log in" / "Log out"',
      '/planted: the button "Copy codes" is not in Title Case',
    ]);
    assert.ok(isTitleCase('Generate Bypass Codes'));
    assert.ok(isTitleCase('Reset API Key?'));
    assert.ok(!isTitleCase('Add authenticator app'));
  });
});

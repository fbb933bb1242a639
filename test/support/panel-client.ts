import assert from 'node:assert/strict';
import type { TestEnv, TestUser } from './harness.js';

export const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

export interface PanelResponse {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

/**
 * A browser without the browser: the panel through inject(), keeping its cookies and the CSRF
 * token of the last page that had a form, so posts reach their handlers.
 */
export class PanelClient {
  readonly cookies = new Map<string, string>();
  csrfToken = '';

  constructor(
    readonly env: TestEnv,
    readonly remoteAddress = '127.0.0.1',
  ) {}

  /** A client signed in with the user's password (an account without MFA lands on its profile). */
  static async signedIn(
    env: TestEnv,
    user: TestUser,
    remoteAddress?: string,
    home = '/profile',
  ): Promise<PanelClient> {
    const client = new PanelClient(env, remoteAddress);
    await client.get('/sign-in');
    const response = await client.post('/sign-in', { username: user.username, password: user.password });
    assert.equal(response.status, 303, response.body);
    // The CSRF secret may be renewed at sign-in: take the token of a page of the new session.
    const page = await client.get(home);
    assert.equal(page.status, 200, `${home}: ${page.body.slice(0, 300)}`);
    assert.ok(client.cookies.has('lk_session'), 'signed in');
    return client;
  }

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async get(
    url: string,
    headers: Record<string, string> = {},
    remoteAddress?: string,
  ): Promise<PanelResponse> {
    return this.send('GET', url, undefined, headers, remoteAddress);
  }

  /**
   * A form post with the current CSRF token; `fields` as an object or urlencoded text (to which
   * the token is added, unless `raw`: then the text is the whole body).
   */
  async post(
    url: string,
    fields: Record<string, string> | string,
    headers: Record<string, string> = {},
    options: { raw?: boolean; remoteAddress?: string } = {},
  ): Promise<PanelResponse> {
    const body =
      typeof fields !== 'string'
        ? new URLSearchParams({ _csrf: this.csrfToken, ...fields }).toString()
        : options.raw
          ? fields
          : `_csrf=${encodeURIComponent(this.csrfToken)}&${fields}`;
    return this.send(
      'POST',
      url,
      body,
      { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80', ...headers },
      options.remoteAddress,
    );
  }

  private async send(
    method: 'GET' | 'POST',
    url: string,
    payload: string | undefined,
    headers: Record<string, string>,
    remoteAddress = this.remoteAddress,
  ): Promise<PanelResponse> {
    const response = await this.env.app.inject({
      method,
      url,
      remoteAddress,
      headers: { accept: BROWSER_ACCEPT, host: 'localhost:80', cookie: this.cookieHeader(), ...headers },
      ...(payload === undefined ? {} : { payload }),
    });
    const raw = response.headers['set-cookie'];
    const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
    for (const line of lines) {
      const [pair = ''] = line.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const token = /name="_csrf" value="([^"]+)"/.exec(response.body)?.[1];
    if (token) this.csrfToken = token;
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }
}

/** The panel's HTML error page (not the API's JSON), with its status in the page. */
export function assertErrorPage(response: PanelResponse, status: number, text?: RegExp): void {
  assert.equal(response.status, status, response.body.slice(0, 500));
  assert.match(String(response.headers['content-type']), /^text\/html/);
  assert.ok(response.body.includes(`Error ${status}`), response.body.slice(0, 500));
  if (text) assert.match(response.body, text);
}

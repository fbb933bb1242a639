import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import jsQRModule from 'jsqr';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { createTestEnv, dialects, type TestEnv } from './harness.js';
import { totpAt } from './mfa.js';
import { requireTool } from './tools.js';

// jsqr is CommonJS whose typings declare an ES default export; under NodeNext the default import
// is the module object, whose `default` is the function.
const jsQR = (jsQRModule as unknown as { default: typeof jsQRModule.default }).default;

/** The Debian package's browser; playwright-core never downloads one. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** These machines have no internet: nothing in the browser may try to reach it. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Why the browser tests cannot run here, or undefined when they can. Without Chromium they are
 * skipped with this message, except in CI (CI=true), where a missing browser is a failure.
 */
export function browserUnavailable(): string | undefined {
  return requireTool('chromium') || undefined;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** A test environment whose app listens on a real port, for a real browser. */
export interface PanelEnv extends TestEnv {
  baseUrl: string;
}

/**
 * The browser suites run once per `npm test`, on the store that run is about: SQLite, or
 * PostgreSQL when LATCHKEY_TEST_DATABASE_URL is set (CI's second run).
 */
export async function startPanelEnv(options: Parameters<typeof createTestEnv>[0] = {}): Promise<PanelEnv> {
  const dialect = dialects().at(-1) ?? 'sqlite';
  const env = await createTestEnv({ dialect, ...options });
  await env.app.listen({ host: '127.0.0.1', port: 0 });
  const address = env.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no listening address');
  return Object.assign(env, { baseUrl: `http://127.0.0.1:${address.port}` });
}

/** A fresh browser profile (cookies of its own), as if another person opened the panel. */
export async function newPerson(browser: Browser, env: PanelEnv, width = 1280): Promise<BrowserContext> {
  return browser.newContext({ baseURL: env.baseUrl, viewport: { width, height: 900 } });
}

/** Click a button or link that loads another page, and wait until that page has loaded. */
export async function clickAndLoad(page: Page, target: Locator): Promise<void> {
  await Promise.all([page.waitForEvent('framenavigated'), target.click()]);
  await page.waitForLoadState('load');
}

export async function submit(page: Page, buttonName: string): Promise<void> {
  await clickAndLoad(page, page.getByRole('button', { name: buttonName, exact: true }));
}

export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await submit(page, 'Log In');
}

/** Log out through the user-name menu. */
export async function logOut(page: Page): Promise<void> {
  await page.locator('details.user-menu > summary').click();
  await submit(page, 'Log Out');
}

export async function enterPasscode(page: Page, passcode: string): Promise<void> {
  await page.getByLabel('Passcode').fill(passcode);
  await submit(page, 'Verify Code');
}

/** The current authenticator code of a secret, at the server's (injected) time. */
export function currentCode(env: TestEnv, secret: string): string {
  return totpAt(secret, env.clock.now());
}

/**
 * Decode the QR code from the pixels the browser drew (a screenshot of the element), the way a
 * phone's camera reads it: never from the page's text or the image's source.
 */
export async function readQrCode(image: Locator): Promise<string> {
  const png = PNG.sync.read(await image.screenshot());
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(decoded, 'no QR code could be read from the screenshot');
  return decoded.data;
}

/** axe-core on the page as it is: no violation of serious or critical impact. */
export async function assertAccessible(page: Page, label: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter(
    (violation) => violation.impact === 'serious' || violation.impact === 'critical',
  );
  assert.deepEqual(
    bad.map(
      (violation) =>
        `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`,
    ),
    [],
    `accessibility violations on ${label}`,
  );
}

/** The text of the page's status and alert banners. */
export async function bannerText(page: Page): Promise<string> {
  return (await page.locator('.banner').allInnerTexts()).join('\n');
}

/**
 * A panel server and one Chromium for a describe block: started before its tests, closed after.
 * `use` receives them once started.
 */
export function usePanelBrowser(use: (started: { env: PanelEnv; browser: Browser }) => void): void {
  let env: PanelEnv | undefined;
  let browser: Browser | undefined;
  before(async () => {
    env = await startPanelEnv();
    browser = await launchChromium();
    use({ env, browser });
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });
}

/** A page on another origin of the same host (an attacker's site), serving `html`. */
export function serveOtherOrigin(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

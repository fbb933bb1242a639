import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The panel's Content-Security-Policy: only our own scripts, styles and images (plus data: images
 * for the QR code PNG), no inline script or eval, never framed, forms post only to us.
 */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
} as const;

/** The same policy as a header value. */
export function cspHeaderValue(): string {
  return Object.entries(CSP_DIRECTIVES)
    .map(
      ([name, values]) =>
        `${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)} ${values.join(' ')}`,
    )
    .join(';');
}

/**
 * The security headers of every panel response, the set helmet's defaults make with our choices:
 * the CSP above, never framed, the referrer only to ourselves (not no-referrer: with it,
 * Chromium sends `Origin: null` on our own form posts), no HSTS (the TLS terminator's decision,
 * not an application's), no COEP. Made once: helmet builds its middleware and parses the policy
 * again on every request.
 */
export const PANEL_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': cspHeaderValue(),
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
});

/** Headers of an HTML page served outside the panel plugin (the root 404): the panel's, no-store. */
export function setPageSecurityHeaders(reply: FastifyReply): void {
  reply.headers({ ...PANEL_SECURITY_HEADERS, 'cache-control': 'no-store' });
}

/**
 * The origin the panel is served from, as a browser would write it in `Origin`: LATCHKEY_PUBLIC_URL,
 * else the one this request was addressed to.
 */
export function ownOrigin(request: FastifyRequest): string {
  return request.publicOrigin;
}

/** Whether browsers reach the panel over TLS (directly, or through a TLS-terminating proxy). */
export function servedOverTls(request: FastifyRequest): boolean {
  return request.publicOrigin.startsWith('https:');
}

/**
 * Whether a state-changing request may come from where it says it comes from. Browsers send
 * Sec-Fetch-Site and Origin on every form POST; a request from another origin, even a sibling
 * port on the same host (same site, so SameSite=Lax cookies do travel), is refused before any
 * handler runs. Clients that send neither header still need the CSRF token.
 */
export function isSameOriginRequest(request: FastifyRequest): boolean {
  const fetchSite = request.headers['sec-fetch-site'];
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return false;
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== ownOrigin(request)) return false;
  return true;
}

/**
 * Whether the client would rather have HTML than JSON: `text/html` is named with a quality at
 * least that of `application/json` (browsers say `text/html,...,*\/*;q=0.8`).
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((param) => param.trim()).find((param) => param.startsWith('q='));
    const quality = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(quality)) continue;
    const name = type.trim();
    if (name === 'text/html') html = Math.max(html, quality);
    if (name === 'application/json') json = Math.max(json, quality);
  }
  return html > 0 && html >= json;
}

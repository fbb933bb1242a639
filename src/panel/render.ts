import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { Acting } from '../access/caller.js';
import { servedOverTls } from './security.js';
import { type Flash, type PanelSession, takeFlash } from './session.js';

/** What every page's layout needs to know about the request. */
export interface PageContext {
  /** For every POST form on the page (PostForm puts it in). Empty where no form can be posted. */
  csrfToken: string;
  /** The signed-in user, for the user-name menu; null on the sign-in pages. */
  user: { id: string; username: string; role: string } | null;
  /** A scoped session (SETUP-MFA, ADD-PASSKEY): only its one setup is open to it. */
  setupOnly: boolean;
  /** The signed-in user as access/caller.ts judges it: which menu entries it may use. */
  acting?: Acting;
  flash: Flash | undefined;
}

/** A CSRF token for this page's forms; the first one also sets the secret cookie. */
export function csrfTokenFor(request: FastifyRequest, reply: FastifyReply): string {
  return reply.generateCsrf({ secure: servedOverTls(request) });
}

/** The context of a panel page: a CSRF token, the user menu, and the pending flash message. */
export function pageContext(
  request: FastifyRequest,
  reply: FastifyReply,
  session?: PanelSession,
): PageContext {
  return {
    csrfToken: csrfTokenFor(request, reply),
    user: session ? { id: session.user.id, username: session.user.username, role: session.user.role } : null,
    setupOnly: session !== undefined && session.scope !== null,
    ...(session ? { acting: { user: session.user, scope: session.scope, source: session.source } } : {}),
    flash: takeFlash(request, reply),
  };
}

/** A context for pages rendered where the panel's plugins do not run (the root 404). */
export const BARE_CONTEXT: PageContext = { csrfToken: '', user: null, setupOnly: false, flash: undefined };

export function renderDocument(page: VNode): string {
  return `<!doctype html>${render(page)}`;
}

/** Send a full HTML page. Every panel page is no-store: some show secrets, none should linger. */
export function sendPage(reply: FastifyReply, page: VNode | string, status = 200): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(typeof page === 'string' ? page : renderDocument(page));
}

const MARKUP_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '"': '&quot;' };

/**
 * Text made safe between tags and in a double-quoted attribute, exactly as preact's renderer
 * escapes it (the characters that could end either).
 */
function escapeMarkup(text: string): string {
  return text.replace(/[&<"]/g, (character) => MARKUP_ENTITIES[character] ?? character);
}

/**
 * A page that differs from one request to the next only in a few strings (a CSRF token, a
 * challenge), rendered once with a marker in each one's place and filled in by replacement
 * afterwards, each value escaped as the renderer escapes it. Everything else the page is
 * rendered from is its `shape`: another shape renders it again. For pages served on every
 * sign-in, where rendering the whole tree would cost more than the request's own work.
 */
export class PageTemplate<Slot extends string> {
  readonly #prefix = `lk-slot-${randomBytes(12).toString('hex')}-`;
  #shape: string | undefined;
  /** The rendered page split at the markers: text, slot, text, slot ... text. */
  #parts: string[] = [];

  /** The page for these values; `render` makes it with markers when the shape is new. */
  fill(
    shape: string,
    values: Readonly<Record<Slot, string>>,
    render: (marker: (slot: Slot) => string) => VNode,
  ): string {
    if (shape !== this.#shape) {
      const page = renderDocument(render((slot) => `${this.#prefix}${slot}`));
      this.#parts = page.split(new RegExp(`${this.#prefix}([A-Za-z]+)`));
      this.#shape = shape;
    }
    let filled = '';
    this.#parts.forEach((part, index) => {
      filled += index % 2 === 0 ? part : escapeMarkup(values[part as Slot]);
    });
    return filled;
  }
}

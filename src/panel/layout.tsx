import type { ComponentChildren } from 'preact';
import { may } from '../access/caller.js';
import { Banner, Card } from './components.js';
import type { PageContext } from './render.js';

export interface MenuLink {
  href: string;
  label: string;
}

/**
 * The user-name menu's links for this user. Pages of other areas (administration) add theirs
 * here, by role, so every page shows the same menu.
 */
export function menuLinksFor(ctx: PageContext): MenuLink[] {
  if (!ctx.user || ctx.setupOnly) return [];
  const links = [{ href: '/profile', label: 'My Profile & Settings' }];
  const { acting } = ctx;
  if (acting && may(acting, { kind: 'account.administer', domainId: undefined })) {
    links.push({ href: '/admin', label: 'User Management' }, { href: '/admin/users', label: 'User List' });
    if (may(acting, { kind: 'events.read', domainId: undefined }))
      links.push({ href: '/admin/events', label: 'Security Events' });
  }
  return links;
}

function UserMenu({ ctx }: { ctx: PageContext }) {
  if (!ctx.user) return null;
  return (
    <details class="user-menu">
      <summary>
        <span class="visually-hidden">User menu for </span>
        {ctx.user.username}
      </summary>
      <ul>
        {menuLinksFor(ctx).map((link) => (
          <li key={link.href}>
            <a href={link.href}>{link.label}</a>
          </li>
        ))}
        <li>
          <form method="post" action="/sign-out">
            <input type="hidden" name="_csrf" value={ctx.csrfToken} />
            <button type="submit" class="menu-button">
              Log Out
            </button>
          </form>
        </li>
      </ul>
    </details>
  );
}

export interface LayoutProps {
  ctx: PageContext;
  /** The page's name, shown in the tab; the page's own heading is its first h1. */
  title: string;
  /** Narrow pages (sign-in, setup steps) sit in one centred column. */
  width?: 'narrow' | 'wide';
  children: ComponentChildren;
}

export function Layout({ ctx, title, width = 'wide', children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light" />
        <title>{`${title} · Latchkey`}</title>
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/panel.css" />
        <script src="/assets/panel.js" defer />
      </head>
      <body>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="topbar">
          <a class="brand" href="/">
            <svg class="brand-mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
              <circle cx="8" cy="12" r="4.5" />
              <path d="M12.5 12H21M18 12v3.5M21 12v2.5" />
            </svg>
            Latchkey
          </a>
          <UserMenu ctx={ctx} />
        </header>
        <main id="main" class={`page page-${width}`}>
          {ctx.flash ? <Banner tone={ctx.flash.tone}>{ctx.flash.text}</Banner> : null}
          {children}
        </main>
        <footer class="footer">Latchkey identity service</footer>
      </body>
    </html>
  );
}

/**
 * A narrow page of one card: the name of the flow it belongs to, its heading, and what it asks
 * (the steps of a device's flow, a confirmation in My Profile & Settings). `after` stands below
 * the card.
 */
export function CardPage({
  ctx,
  lead,
  title,
  heading = title,
  children,
  after,
}: {
  ctx: PageContext;
  lead: string;
  title: string;
  heading?: string;
  children: ComponentChildren;
  after?: ComponentChildren;
}) {
  return (
    <Layout ctx={ctx} title={title} width="narrow">
      <Card>
        <p class="lead">{lead}</p>
        <h1>{heading}</h1>
        {children}
      </Card>
      {after}
    </Layout>
  );
}

import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { authenticateCaller, type Caller, type Access as CallerAccess } from '../access/caller.js';
import { MFA_REQUIRED_REASONS, whyTokenEnded } from '../access/tokens.js';
import { ApiError } from '../core/errors.js';
import type { FactorType } from '../policy/enforcement.js';
import type { Deps } from '../services/deps.js';
import { servedOverTls } from './security.js';

/** Cookie names. None is readable by page scripts (all httpOnly). */
export const COOKIES = {
  /** The latchkey token id behind the panel session. */
  session: 'lk_session',
  /** The half-done MFA sign-in (the OS-MF session id), encrypted. */
  pending: 'lk_pending',
  /** A one-shot message for the next page, signed. */
  flash: 'lk_flash',
  /** @fastify/csrf-protection's secret, signed. */
  csrf: 'lk_csrf',
} as const;

/**
 * Who is signed in: the Caller (access/caller.ts) behind the session cookie's token, resolved
 * afresh on every request exactly as the API resolves X-Auth-Token.
 */
export type PanelSession = Caller;

export function cookieOptions(request: FastifyRequest, path = '/') {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    path,
    // TLS, a TLS-terminating proxy listed in LATCHKEY_TRUSTED_PROXIES, or an https public URL.
    secure: servedOverTls(request),
  };
}

/**
 * A new CSRF secret whenever a session starts or ends, so that a secret planted in the browser
 * before sign-in (or one read while signed in) cannot forge forms of the next session. The old
 * secret goes from this request too: the next token made (on this page or the next) makes and
 * sets a fresh secret, and every token of the old one is refused.
 */
function renewCsrfSecret(request: FastifyRequest, reply: FastifyReply): void {
  delete request.cookies[COOKIES.csrf];
  reply.clearCookie(COOKIES.csrf, cookieOptions(request));
}

export function startSession(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
  token: { id: string; expiresAt: number },
): void {
  const seconds = Math.max(1, Math.floor((token.expiresAt - deps.clock.now()) / 1000));
  reply.setCookie(COOKIES.session, token.id, { ...cookieOptions(request), maxAge: seconds });
  renewCsrfSecret(request, reply);
}

/** Ends the session this browser holds; without one, nothing changes (the CSRF secret stays). */
export function endSession(request: FastifyRequest, reply: FastifyReply): void {
  if (request.cookies[COOKIES.session] === undefined) return;
  reply.clearCookie(COOKIES.session, cookieOptions(request));
  renewCsrfSecret(request, reply);
}

export type FlashTone = 'success' | 'info' | 'error';
export interface Flash {
  tone: FlashTone;
  text: string;
}

/** A message shown once, on the next page this browser loads. */
export function setFlash(request: FastifyRequest, reply: FastifyReply, tone: FlashTone, text: string): void {
  reply.setCookie(COOKIES.flash, JSON.stringify({ tone, text }), {
    ...cookieOptions(request),
    signed: true,
    maxAge: 300,
  });
}

/** The pending flash message, if any, cleared as it is read. */
export function takeFlash(request: FastifyRequest, reply: FastifyReply): Flash | undefined {
  const raw = request.cookies[COOKIES.flash];
  if (raw === undefined) return undefined;
  reply.clearCookie(COOKIES.flash, cookieOptions(request));
  const unsigned = request.unsignCookie(raw);
  if (!unsigned.valid || unsigned.value === null) return undefined;
  try {
    const parsed = JSON.parse(unsigned.value) as Partial<Flash>;
    const tones: FlashTone[] = ['success', 'info', 'error'];
    if (typeof parsed.text !== 'string' || !tones.includes(parsed.tone as FlashTone)) return undefined;
    return { tone: parsed.tone as FlashTone, text: parsed.text };
  } catch {
    return undefined;
  }
}

/** What a half-done MFA sign-in remembers between the password and the passcode pages. */
export interface PendingSignIn {
  sessionId: string;
  factor: FactorType;
  sentTo?: string;
  /** Set when an SMS limit kept step 1 from texting a passcode: the domain's words for it. */
  smsNotSent?: string;
  /** The user's default is a passkey: the passkey page first, the passcode page on request. */
  passkey?: boolean;
  expiresAt: number;
}

const PENDING_PURPOSE = 'panel pending sign-in';
const PENDING_PATH = '/sign-in';

/**
 * The OS-MF session id is a bearer secret: it travels only in this httpOnly cookie, encrypted
 * under the key ring (bound to its purpose), never in a page, a hidden field or a URL.
 */
export function setPendingSignIn(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
  pending: Omit<PendingSignIn, 'expiresAt'>,
): void {
  const ttl = deps.config.mfaSessionTtlSeconds;
  const value: PendingSignIn = { ...pending, expiresAt: deps.clock.now() + ttl * 1000 };
  reply.setCookie(COOKIES.pending, deps.keys.encrypt(JSON.stringify(value), PENDING_PURPOSE), {
    ...cookieOptions(request, PENDING_PATH),
    maxAge: ttl,
  });
}

export function readPendingSignIn(deps: Deps, request: FastifyRequest): PendingSignIn | undefined {
  const raw = request.cookies[COOKIES.pending];
  if (!raw || raw.length > 4096) return undefined;
  try {
    const value = JSON.parse(deps.keys.decrypt(raw, PENDING_PURPOSE)) as PendingSignIn;
    if (typeof value.sessionId !== 'string' || (value.factor !== 'OTP' && value.factor !== 'SMS'))
      return undefined;
    return value;
  } catch {
    // Tampered with, or sealed under a key no longer in the ring: as if there were none.
    return undefined;
  }
}

export function clearPendingSignIn(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(COOKIES.pending, cookieOptions(request, PENDING_PATH));
}

/** Seed 000: users logged out because the account now requires MFA are told so. */
export const FORCE_LOGOUT_MESSAGE =
  'Your account now requires multi-factor authentication, so you have been logged out. Log in again to set it up.';

/** Users logged out because the account now requires passkeys are told so. */
export const PASSKEYS_REQUIRED_LOGOUT_MESSAGE =
  'Your account now requires a passkey or security key, so you have been logged out. Log in again: with your passkey or security key, or, if you have none yet, with your passcode to add one.';

/** What the sign-in page says when a session cookie no longer names a live token. */
async function endedSessionMessage(deps: Deps, tokenId: string): Promise<Flash> {
  const ended = await whyTokenEnded(deps, tokenId);
  if (ended.kind === 'expired') return { tone: 'info', text: 'Your session has expired. Log in again.' };
  if (ended.kind === 'revoked' && ended.reason !== null) {
    if (MFA_REQUIRED_REASONS.has(ended.reason)) return { tone: 'error', text: FORCE_LOGOUT_MESSAGE };
    switch (ended.reason) {
      case 'multi-factor enabled':
        return {
          tone: 'info',
          text: 'Multi-factor authentication is now on. Log in again with your password and a passcode.',
        };
      case 'domain requires passkeys':
        return { tone: 'error', text: PASSKEYS_REQUIRED_LOGOUT_MESSAGE };
      case 'password changed':
        return { tone: 'info', text: 'Your password was changed. Log in again with the new password.' };
      case 'user disabled':
        return { tone: 'error', text: 'This user has been disabled. Contact your account administrator.' };
      case 'signed out':
        return { tone: 'info', text: 'You have logged out.' };
      default:
        break;
    }
  }
  return { tone: 'info', text: 'Your session has ended. Log in again.' };
}

/**
 * Which sessions a page admits. `full`: a normal token. `setup`: the SETUP-MFA token a user who
 * must set up MFA gets at sign-in, good for the forced setup pages and nothing else.
 * `add-passkey`: a normal token, or the ADD-PASSKEY token of a user whose account requires
 * passkeys and who has none, good for adding one and nothing else. `any`: any live token (the
 * start page, logging out).
 */
export type Access = 'full' | 'setup' | 'add-passkey' | 'any';

const CALLER_ACCESS: Record<Access, CallerAccess> = {
  full: { kind: 'account' },
  setup: { kind: 'own-multi-factor' },
  'add-passkey': { kind: 'own-passkey' },
  any: { kind: 'revocation' },
};

export type SessionLookup =
  | { kind: 'none' }
  | { kind: 'ended'; flash: Flash }
  /** A live session that this page does not admit: where it belongs instead. */
  | { kind: 'elsewhere'; location: string }
  | { kind: 'live'; session: PanelSession };

/** Where a live session starts: the setup its scope is for, else the profile. */
export function homeOf(session: Pick<PanelSession, 'scope'>): string {
  switch (session.scope) {
    case 'SETUP-MFA':
      return '/setup';
    case 'ADD-PASSKEY':
      return ADD_PASSKEY_PAGE;
    case null:
      return '/profile';
  }
}

/** Where a user whose account requires passkeys, and who has none, adds one. */
export const ADD_PASSKEY_PAGE = '/profile/passkeys/new';

/** The session cookie's token as a Caller with the access the page needs. */
export async function lookupSession(
  deps: Deps,
  request: FastifyRequest,
  access: Access,
): Promise<SessionLookup> {
  const tokenId = request.cookies[COOKIES.session];
  if (!tokenId) return { kind: 'none' };
  let session: PanelSession;
  try {
    session = await authenticateCaller(deps, tokenId, request.ip ?? null, CALLER_ACCESS[access]);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) return { kind: 'ended', flash: await endedSessionMessage(deps, tokenId) };
    if (error.fault === 'userDisabled')
      return { kind: 'ended', flash: { tone: 'error', text: 'This user has been disabled.' } };
    // A scoped token on a page of the full panel, or of another setup: send it home.
    if (error.reason === 'scope-forbids') {
      const any = await authenticateCaller(deps, tokenId, request.ip ?? null, CALLER_ACCESS.any);
      return { kind: 'elsewhere', location: homeOf(any) };
    }
    throw error;
  }
  if (access === 'setup' && session.scope === null) return { kind: 'elsewhere', location: '/profile' };
  return { kind: 'live', session };
}

export type SessionHandler = (
  request: FastifyRequest,
  reply: FastifyReply,
  session: PanelSession,
) => Promise<unknown>;

/**
 * A route handler that runs only with a live session of the given access. Every request resolves
 * the token afresh, so a token revoked anywhere (policy, MFA change, administrator, password)
 * ends the session at the very next click, on every instance.
 */
export function withSession(deps: Deps, access: Access, handler: SessionHandler): RouteHandlerMethod {
  return async function sessionRoute(request, reply) {
    const found = await lookupSession(deps, request, access);
    if (found.kind === 'live') return handler(request, reply, found.session);
    if (found.kind === 'elsewhere') return reply.redirect(found.location, 303);
    endSession(request, reply);
    if (found.kind === 'ended') setFlash(request, reply, found.flash.tone, found.flash.text);
    return reply.redirect('/sign-in', 303);
  };
}

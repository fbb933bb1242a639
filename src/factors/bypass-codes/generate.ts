import { type Acting, auditActor } from '../../access/acting.js';
import { authorize } from '../../access/caller.js';
import { badRequest } from '../../core/errors.js';
import { randomDigits } from '../../crypto/random.js';
import { recordEvent } from '../../events/events.js';
import type { Deps } from '../../services/deps.js';
import type { UserView } from '../../store/schema.js';
import { lockUserRow } from '../settings.js';
import { BYPASS_CODE_DIGITS, bypassHash } from './bypass-codes.js';

/** Self-service batches: one to ten codes, one by default (API.md "Bypass codes", reference §7.11). */
export const MAX_SELF_SERVICE_CODES = 10;
export const DEFAULT_CODE_COUNT = 1;
/** For another user: exactly one code, 30 minutes by default, at most 180 minutes. */
export const ADMIN_DEFAULT_VALIDITY_MS = 30 * 60_000;
export const ADMIN_MAX_VALIDITY_MS = 180 * 60_000;
/** Ours: a bound on self-chosen validity, far beyond any use, that keeps the arithmetic exact. */
export const SELF_MAX_VALIDITY_MS = 3650 * 86_400_000;

export const BypassMessages = {
  mfaNotEnabled: 'Bypass codes can only be generated for a user with multi-factor authentication enabled.',
  badCount: `numberOfCodes must be a whole number from 1 to ${MAX_SELF_SERVICE_CODES}.`,
  oneForOthers: 'Only one bypass code can be generated for another user.',
  badDuration:
    "validityDuration must be an xsd:duration in days, hours, minutes and seconds, such as 'PT30M'.",
  zeroDuration: 'validityDuration must be longer than zero.',
  adminTooLong: "validityDuration may be at most 'PT180M' for another user's bypass code.",
  selfTooLong: 'validityDuration may be at most 3650 days.',
} as const;

export interface BypassRequest {
  numberOfCodes?: string | number | null;
  validityDuration?: string | null;
}

export interface BypassBatch {
  codes: string[];
  /** null: the codes never expire (self-service recovery codes). */
  validityMs: number | null;
}

// xsd:duration (XML Schema Part 2 §3.2.6): PnYnMnDTnHnMnS, fractional seconds allowed, an
// optional sign; plus ISO 8601 weeks, which some clients send. At least one component, and a T
// only when a time component follows.
const DURATION =
  /^(-)?P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?)?$/;

/**
 * Milliseconds of an xsd:duration such as `PT30M`, `PT1H`, `PT20M0.000S` or `P0DT0H30M`. Years and
 * months have no fixed length, so only zero ones are accepted; a negative duration is refused.
 */
export function parseXsdDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw badRequest(BypassMessages.badDuration);
  const [, sign, years, months, weeks, days, hours, minutes, seconds, fraction] = match;
  if (Number(years ?? 0) !== 0 || Number(months ?? 0) !== 0) throw badRequest(BypassMessages.badDuration);
  const fractionMs = fraction === undefined ? 0 : Math.round(Number(`0.${fraction}`) * 1000);
  const ms =
    Number(weeks ?? 0) * 604_800_000 +
    Number(days ?? 0) * 86_400_000 +
    Number(hours ?? 0) * 3_600_000 +
    Number(minutes ?? 0) * 60_000 +
    Number(seconds ?? 0) * 1000 +
    fractionMs;
  if (!Number.isSafeInteger(ms)) throw badRequest(BypassMessages.selfTooLong);
  if (sign === '-' && ms !== 0) throw badRequest(BypassMessages.zeroDuration);
  return ms;
}

/** The form Rackspace answers with: `PT30M0.000S`, `PT3H0M0.000S`. */
export function formatXsdDuration(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = ((ms % 60_000) / 1000).toFixed(3);
  return `PT${hours > 0 ? `${hours}H` : ''}${minutes}M${seconds}S`;
}

function codeCount(value: string | number | null | undefined): number {
  if (value === undefined || value === null) return DEFAULT_CODE_COUNT;
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (!/^\d{1,3}$/.test(text)) throw badRequest(BypassMessages.badCount);
  const count = Number(text);
  if (count < 1 || count > MAX_SELF_SERVICE_CODES) throw badRequest(BypassMessages.badCount);
  return count;
}

function validity(value: string | null | undefined, selfService: boolean): number | null {
  if (value === undefined || value === null || value.trim() === '')
    return selfService ? null : ADMIN_DEFAULT_VALIDITY_MS;
  const ms = parseXsdDuration(value);
  if (ms <= 0) throw badRequest(BypassMessages.zeroDuration);
  if (!selfService && ms > ADMIN_MAX_VALIDITY_MS) throw badRequest(BypassMessages.adminTooLong);
  if (ms > SELF_MAX_VALIDITY_MS) throw badRequest(BypassMessages.selfTooLong);
  return ms;
}

/** `count` distinct codes of eight digits, leading zeros kept. */
function distinctCodes(count: number): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(randomDigits(BYPASS_CODE_DIGITS));
  return [...codes];
}

/**
 * POST .../multi-factor/bypass-codes (reference §7.11, API.md "Bypass codes"). The caller's
 * right to act on the target is already checked. The new batch replaces every earlier code; only
 * keyed hashes are stored, and the codes are returned this once.
 */
export async function generateBypassCodes(
  deps: Deps,
  acting: Acting,
  target: UserView,
  request: BypassRequest,
): Promise<BypassBatch> {
  authorize(acting, { kind: 'user.manage', target });
  const actor = auditActor(acting);
  const caller = acting.user;
  const selfService = caller.id === target.id;
  const count = codeCount(request.numberOfCodes);
  if (!selfService && count !== 1) throw badRequest(BypassMessages.oneForOthers);
  const validityMs = validity(request.validityDuration, selfService);
  const codes = distinctCodes(count);
  await deps.db.transaction().execute(async (trx) => {
    const user = await lockUserRow(trx, target.id);
    if (user.mfa_enabled !== 1) throw badRequest(BypassMessages.mfaNotEnabled);
    const now = deps.clock.now();
    await trx.deleteFrom('bypass_codes').where('user_id', '=', user.id).execute();
    await trx
      .insertInto('bypass_codes')
      .values(
        codes.map((code) => ({
          user_id: user.id,
          code_hash: bypassHash(deps, user.id, code),
          expires_at: validityMs === null ? null : now + validityMs,
          used_at: null,
          created_at: now,
        })),
      )
      .execute();
    await recordEvent(trx, now, {
      type: 'bypass_codes.generated',
      actorId: actor.userId,
      userId: user.id,
      domainId: user.domain_id,
      source: actor.source,
      detail: {
        count,
        selfService,
        validitySeconds: validityMs === null ? null : validityMs / 1000,
      },
    });
  });
  return { codes, validityMs };
}

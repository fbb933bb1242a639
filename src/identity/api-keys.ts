import { randomHex } from '../crypto/random.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { recordEvent } from '../events/events.js';
import type { UserRow } from '../store/schema.js';

/** API keys are encrypted, not hashed, because GET .../RAX-KSKEY:apiKeyCredentials returns them. */
export function readApiKey(deps: Deps, user: UserRow): string {
  if (!user.api_key_enc) throw notFound('Credential not found.');
  return deps.keys.decrypt(user.api_key_enc, `api-key:${user.id}`);
}

/** A new key; existing tokens stay valid (reference §6.7). */
export async function resetApiKey(
  deps: Deps,
  actorId: string,
  source: string | null,
  user: UserRow,
): Promise<string> {
  const apiKey = randomHex();
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ api_key_enc: deps.keys.encrypt(apiKey, `api-key:${user.id}`), updated_at: now })
      .where('id', '=', user.id)
      .execute();
    await recordEvent(trx, now, {
      type: 'api_key.reset',
      actorId,
      userId: user.id,
      domainId: user.domain_id,
      source,
    });
  });
  return apiKey;
}

export async function deleteApiKey(
  deps: Deps,
  actorId: string,
  source: string | null,
  user: UserRow,
): Promise<void> {
  if (!user.api_key_enc) throw notFound('Credential not found.');
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ api_key_enc: null, updated_at: now })
      .where('id', '=', user.id)
      .execute();
    await recordEvent(trx, now, {
      type: 'api_key.deleted',
      actorId,
      userId: user.id,
      domainId: user.domain_id,
      source,
    });
  });
}

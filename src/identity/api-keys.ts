import { notFound } from '../core/errors.js';
import { randomHex } from '../crypto/random.js';
import { recordEvent } from '../events/events.js';
import type { Deps } from '../services/deps.js';
import type { UserView } from '../store/schema.js';

/** Binds an encrypted API key to its user's row: moved to another row, it does not decrypt. */
export const apiKeyAad = (userId: string): string => `api-key:${userId}`;

/** API keys are encrypted, not hashed, because GET .../RAX-KSKEY:apiKeyCredentials returns them. */
export async function findApiKey(deps: Deps, userId: string): Promise<string | undefined> {
  const row = await deps.db
    .selectFrom('users')
    .select('api_key_enc')
    .where('id', '=', userId)
    .executeTakeFirst();
  return row?.api_key_enc ? deps.keys.decrypt(row.api_key_enc, apiKeyAad(userId)) : undefined;
}

export async function readApiKey(deps: Deps, userId: string): Promise<string> {
  const apiKey = await findApiKey(deps, userId);
  if (apiKey === undefined) throw notFound('Credential not found.');
  return apiKey;
}

/** A new key; existing tokens stay valid (reference §6.7). */
export async function resetApiKey(
  deps: Deps,
  actorId: string,
  source: string | null,
  user: UserView,
): Promise<string> {
  const apiKey = randomHex();
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ api_key_enc: deps.keys.encrypt(apiKey, apiKeyAad(user.id)), updated_at: now })
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
  user: UserView,
): Promise<void> {
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const deleted = await trx
      .updateTable('users')
      .set({ api_key_enc: null, updated_at: now })
      .where('id', '=', user.id)
      .where('api_key_enc', 'is not', null)
      .executeTakeFirst();
    if (deleted.numUpdatedRows === 0n) throw notFound('Credential not found.');
    await recordEvent(trx, now, {
      type: 'api_key.deleted',
      actorId,
      userId: user.id,
      domainId: user.domain_id,
      source,
    });
  });
}

import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import {
  addPhone,
  getPhone,
  listPhones,
  removeOnlyPhone,
  removePhone,
  sendVerificationPin,
  verificationCodeOf,
  verifyPhone,
} from '../../factors/sms/phones.js';
import { sendTemporaryCode } from '../../lockout/temporary-code.js';
import type { Api as App } from '../api.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';
import { iso } from '../render.js';

const BASE = '/v2.0/users/:userId/RAX-AUTH/multi-factor';
const userParams = Type.Object({ userId: hexId() });
const phoneParams = Type.Object({
  userId: hexId(),
  phoneId: hexId(),
});

/** `body[outer][inner]` of a body that is not validated by schema (the reference words its own 400s). */
function field(body: unknown, outer: string, inner: string): unknown {
  if (!body || typeof body !== 'object') return undefined;
  const wrapper = (body as Record<string, unknown>)[outer];
  if (!wrapper || typeof wrapper !== 'object') return undefined;
  return (wrapper as Record<string, unknown>)[inner];
}

/** Reference §7.1–7.6 (SMS device) and API.md "Temporary code (ours)". */
export function registerPhoneRoutes(app: App, deps: Deps): void {
  app.post(`${BASE}/mobile-phones`, { schema: { params: userParams } }, async (request, reply) => {
    const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
    const { phone } = await addPhone(
      deps,
      { userId: caller.user.id, source: caller.source },
      target,
      field(request.body, 'RAX-AUTH:mobilePhone', 'number'),
    );
    return reply
      .code(201)
      .header('Location', `/v2.0/users/${target.id}/RAX-AUTH/multi-factor/mobile-phones/${phone.id}`)
      .send({ 'RAX-AUTH:mobilePhone': phone });
  });

  // Reference §7.5, and its alias under devices/ ([CODE]).
  for (const path of [`${BASE}/mobile-phones`, `${BASE}/devices/mobile-phones`]) {
    app.get(path, { schema: { params: userParams } }, async (request) => {
      const { target } = await multiFactorTarget(deps, request, request.params.userId);
      return { 'RAX-AUTH:mobilePhones': await listPhones(deps.db, target.id) };
    });
  }

  app.get(`${BASE}/mobile-phones/:phoneId`, { schema: { params: phoneParams } }, async (request) => {
    const { target } = await multiFactorTarget(deps, request, request.params.userId);
    return { 'RAX-AUTH:mobilePhone': await getPhone(deps.db, target.id, request.params.phoneId) };
  });

  app.delete(
    `${BASE}/mobile-phones/:phoneId`,
    { schema: { params: phoneParams } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await removePhone(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.params.phoneId,
      );
      return reply.code(204).send();
    },
  );

  app.delete(`${BASE}/mobile-phones`, { schema: { params: userParams } }, async (request, reply) => {
    const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
    await removeOnlyPhone(deps, { userId: caller.user.id, source: caller.source }, target);
    return reply.code(204).send();
  });

  app.post(
    `${BASE}/mobile-phones/:phoneId/verificationcode`,
    { schema: { params: phoneParams } },
    async (request, reply) => {
      const { target } = await multiFactorTarget(deps, request, request.params.userId);
      await sendVerificationPin(deps, target, request.params.phoneId);
      return reply.code(202).send();
    },
  );

  app.post(
    `${BASE}/mobile-phones/:phoneId/verify`,
    { schema: { params: phoneParams } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const code = verificationCodeOf(field(request.body, 'RAX-AUTH:verificationCode', 'code'));
      await verifyPhone(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.params.phoneId,
        code,
      );
      return reply.code(204).send();
    },
  );

  app.post(`${BASE}/temporary-code`, { schema: { params: userParams } }, async (request, reply) => {
    const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
    const sent = await sendTemporaryCode(deps, caller, target);
    return reply
      .code(202)
      .send({ 'RAX-AUTH:temporaryCode': { sentTo: sent.sentTo, expires: iso(sent.expiresAt) } });
  });
}

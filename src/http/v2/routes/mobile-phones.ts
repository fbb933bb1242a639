import { Type } from 'typebox';
import { Messages } from '../../../core/errors.js';
import { COUNTRY_NOT_ALLOWED, NOT_SENT, TOO_MANY_MESSAGES } from '../../../factors/sms/delivery.js';
import {
  addPhone,
  getPhone,
  listPhones,
  PhoneMessages,
  removeOnlyPhone,
  removePhone,
  sendVerificationPin,
  verificationCodeOf,
  verifyPhone,
} from '../../../factors/sms/phones.js';
import { sendTemporaryCode, TemporaryCodeMessages } from '../../../factors/temporary-code.js';
import type { Deps } from '../../../services/deps.js';
import { iso } from '../../common-render.js';
import { described, fault, noContent, notFoundFault, operation, Tags, withHeaders } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';
import {
  MobilePhoneRequestSchema,
  MobilePhoneResponseSchema,
  MobilePhonesResponseSchema,
  TemporaryCodeResponseSchema,
  VerificationCodeRequestSchema,
} from '../schemas.js';

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

const userNotFound = notFoundFault('User 0123456789abcdef0123456789abcdef not found');
const phoneNotFound = notFoundFault(PhoneMessages.notFound, PhoneMessages.invalidDevice);
const tooManyTexts = fault(
  429,
  'An SMS limit: per number (5 per 10 minutes, 20 a day) or per user (10 an hour) by default. Nothing was sent.',
  [TOO_MANY_MESSAGES],
  { 'Retry-After': Type.String({ description: 'Seconds to wait.' }) },
);

const addDoc = operation({
  summary: 'Add the mobile phone (one per user)',
  description:
    'The number with its country code, in E.164 form (+15125550100). Then send the PIN (verificationcode), verify it, and enable MFA. A second phone replaces the first unless SMS is the factor in use.',
  tag: Tags.sms,
  responses: {
    201: withHeaders(described(MobilePhoneResponseSchema, 'The phone, unverified.'), {
      Location: Type.String({
        description: '/v2.0/users/{userId}/RAX-AUTH/multi-factor/mobile-phones/{phoneId}',
      }),
    }),
    400: fault(400, 'No number, an invalid one, a country not allowed, or SMS in use.', [
      PhoneMessages.missingNumber,
      PhoneMessages.invalidNumber,
      COUNTRY_NOT_ALLOWED,
      PhoneMessages.cannotReplace,
    ]),
    404: userNotFound,
  },
});

const listDoc = (summary: string) =>
  operation({
    summary,
    tag: Tags.sms,
    responses: {
      200: described(MobilePhonesResponseSchema, 'The phone, in a list of at most one.'),
      404: userNotFound,
    },
  });

const getDoc = operation({
  summary: 'Get the mobile phone',
  tag: Tags.sms,
  responses: { 200: described(MobilePhoneResponseSchema, 'The phone.'), 404: phoneNotFound },
});

const deleteDoc = (summary: string) =>
  operation({
    summary,
    tag: Tags.sms,
    responses: {
      204: noContent('Deleted.'),
      400: fault(400, 'SMS is the factor in use.', [PhoneMessages.cannotDelete]),
      404: phoneNotFound,
    },
  });

const pinDoc = operation({
  summary: 'Send the 4-digit verification PIN by SMS',
  description: 'The PIN is valid 10 minutes and 5 tries; a new one replaces it.',
  tag: Tags.sms,
  responses: {
    202: noContent('Sent.'),
    400: fault(400, 'The phone is already verified, or its country is not allowed.', [
      PhoneMessages.alreadyVerified,
      COUNTRY_NOT_ALLOWED,
    ]),
    404: phoneNotFound,
    429: tooManyTexts,
    503: fault(503, 'The SMS provider failed, or the server is stopping.', [NOT_SENT]),
  },
});

const verifyDoc = operation({
  summary: 'Verify the mobile phone with its PIN',
  tag: Tags.sms,
  responses: {
    204: noContent('Verified: MFA can now be enabled.'),
    400: fault(400, 'No code, a wrong or expired PIN, or a phone already verified.', [
      PhoneMessages.missingCode,
      PhoneMessages.badPin,
      PhoneMessages.alreadyVerified,
    ]),
    404: phoneNotFound,
  },
});

const temporaryCodeDoc = operation({
  summary: 'Send a temporary code to a user (for a user who lost its device)',
  description:
    "An administrator over the user sends an 8-digit code, valid 5 minutes, to the user's verified phone; the user types it at step 2 like a bypass code.",
  tag: Tags.bypass,
  extension: true,
  responses: {
    202: described(TemporaryCodeResponseSchema, 'Sent.'),
    400: fault(400, 'No verified phone, or the user is locked (unlock first).', [
      TemporaryCodeMessages.noVerifiedPhone,
      TemporaryCodeMessages.locked,
    ]),
    403: fault(403, 'The caller may not send one to that user, or to itself.', [
      Messages.notAuthorized,
      TemporaryCodeMessages.self,
    ]),
    404: userNotFound,
    429: tooManyTexts,
    503: fault(503, 'The SMS provider failed, or the server is stopping.', [NOT_SENT]),
  },
});

/** Reference §7.1–7.6 (SMS device) and API.md "Temporary code (ours)". */
export function registerPhoneRoutes(app: HttpServer, deps: Deps): void {
  app.post(
    `${BASE}/mobile-phones`,
    { schema: { params: userParams, ...addDoc }, config: { openapi: { body: MobilePhoneRequestSchema } } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const { phone } = await addPhone(
        deps,
        caller,
        target,
        field(request.body, 'RAX-AUTH:mobilePhone', 'number'),
      );
      return reply
        .code(201)
        .header('Location', `/v2.0/users/${target.id}/RAX-AUTH/multi-factor/mobile-phones/${phone.id}`)
        .send({ 'RAX-AUTH:mobilePhone': phone });
    },
  );

  // Reference §7.5, and its alias under devices/ ([CODE]).
  for (const path of [`${BASE}/mobile-phones`, `${BASE}/devices/mobile-phones`]) {
    app.get(
      path,
      { schema: { params: userParams, ...listDoc("A user's mobile phone") } },
      async (request) => {
        const { target } = await multiFactorTarget(deps, request, request.params.userId);
        return { 'RAX-AUTH:mobilePhones': await listPhones(deps.db, target.id) };
      },
    );
  }

  app.get(
    `${BASE}/mobile-phones/:phoneId`,
    { schema: { params: phoneParams, ...getDoc } },
    async (request) => {
      const { target } = await multiFactorTarget(deps, request, request.params.userId);
      return { 'RAX-AUTH:mobilePhone': await getPhone(deps.db, target.id, request.params.phoneId) };
    },
  );

  app.delete(
    `${BASE}/mobile-phones/:phoneId`,
    { schema: { params: phoneParams, ...deleteDoc('Delete the mobile phone') } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await removePhone(deps, caller, target, request.params.phoneId);
      return reply.code(204).send();
    },
  );

  app.delete(
    `${BASE}/mobile-phones`,
    { schema: { params: userParams, ...deleteDoc("Delete the user's mobile phone, whatever its id") } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await removeOnlyPhone(deps, caller, target);
      return reply.code(204).send();
    },
  );

  app.post(
    `${BASE}/mobile-phones/:phoneId/verificationcode`,
    { schema: { params: phoneParams, ...pinDoc } },
    async (request, reply) => {
      const { target } = await multiFactorTarget(deps, request, request.params.userId);
      await sendVerificationPin(deps, target, request.params.phoneId);
      return reply.code(202).send();
    },
  );

  app.post(
    `${BASE}/mobile-phones/:phoneId/verify`,
    {
      schema: { params: phoneParams, ...verifyDoc },
      config: { openapi: { body: VerificationCodeRequestSchema } },
    },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const code = verificationCodeOf(field(request.body, 'RAX-AUTH:verificationCode', 'code'));
      await verifyPhone(deps, caller, target, request.params.phoneId, code);
      return reply.code(204).send();
    },
  );

  app.post(
    `${BASE}/temporary-code`,
    { schema: { params: userParams, ...temporaryCodeDoc } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const sent = await sendTemporaryCode(deps, caller, target);
      return reply
        .code(202)
        .send({ 'RAX-AUTH:temporaryCode': { sentTo: sent.sentTo, expires: iso(sent.expiresAt) } });
    },
  );
}

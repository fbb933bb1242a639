import { type Static, Type } from 'typebox';
import {
  deletePasskey,
  listPasskeys,
  PasskeyMessages,
  renamePasskey,
} from '../../../factors/passkeys/passkeys.js';
import type { Deps } from '../../../services/deps.js';
import { iso } from '../../common-render.js';
import { described, fault, noContent, notFoundFault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';
import type * as Wire from '../wire.js';
import { emptyBodyAsObject } from './otp-devices.js';

const BASE = '/v2.0/users/:userId/RAX-AUTH/multi-factor';

const userParams = Type.Object({ userId: hexId() });
const passkeyParams = Type.Object({ userId: hexId(), passkeyId: hexId() });
const nullableString = Type.Optional(Type.Union([Type.String(), Type.Null()]));
const renameBody = Type.Object({
  'latchkey:passkey': Type.Optional(Type.Union([Type.Object({ nickname: nullableString }), Type.Null()])),
});

/** Ours: Rackspace's API has no passkeys. Registration is a browser ceremony, in the panel. */
const PasskeySchema = Type.Object(
  {
    id: Type.String(),
    nickname: Type.String(),
    created: Type.String({ description: 'ISO 8601.' }),
    lastUsed: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601, or null if never used.' }),
    transports: Type.Array(Type.String(), {
      description: 'How the browser reaches it: internal, usb, nfc, ble, hybrid.',
    }),
    aaguid: Type.String({ description: "The authenticator's model id (all zeros without attestation)." }),
    backupEligible: Type.Boolean(),
    backedUp: Type.Boolean(),
  },
  { additionalProperties: false },
);
const PasskeysResponseSchema = Type.Object({ 'latchkey:passkeys': Type.Array(PasskeySchema) });
const PasskeyResponseSchema = Type.Object({ 'latchkey:passkey': PasskeySchema });
const RenameRequestSchema = Type.Object({
  'latchkey:passkey': Type.Object({ nickname: Type.String({ maxLength: 64 }) }),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Agree<T extends true> = T;
/** The CLI reads wire.ts: the schemas must describe exactly those shapes. */
export type PasskeySchemasAgree = [
  Agree<Same<Static<typeof PasskeysResponseSchema>, Wire.PasskeysResponse>>,
  Agree<Same<Static<typeof PasskeyResponseSchema>, Wire.PasskeyResponse>>,
];

const userNotFound = notFoundFault('User 0123456789abcdef0123456789abcdef not found');
const passkeyNotFound = notFoundFault(PasskeyMessages.notFound);

const listDoc = operation({
  summary: "A user's passkeys and security keys (ours)",
  description:
    'Registered in the control panel (a browser ceremony). A user whose default method is a passkey shows multiFactorEnabled without a factorType; a password login of such a user is challenged for a passcode (authenticator, phone, bypass or temporary code).',
  tag: Tags.multiFactor,
  responses: {
    200: described(PasskeysResponseSchema, 'The passkeys (public data only).'),
    404: userNotFound,
  },
});
const renameDoc = operation({
  summary: 'Rename a passkey or security key (ours)',
  tag: Tags.multiFactor,
  responses: {
    200: described(PasskeyResponseSchema, 'The passkey, renamed.'),
    400: fault(400, 'No nickname, or a bad one.', [
      PasskeyMessages.nicknameMissing,
      PasskeyMessages.nicknameTooLong,
      PasskeyMessages.nicknameInvalid,
    ]),
    404: passkeyNotFound,
  },
});
const deleteDoc = operation({
  summary: 'Delete a passkey or security key (ours)',
  description:
    'The last passkey of a user whose default it was: the default becomes the verified authenticator app or phone, or, with neither, multi-factor authentication turns off.',
  tag: Tags.multiFactor,
  responses: { 204: noContent('Deleted.'), 404: passkeyNotFound },
});

type View = Awaited<ReturnType<typeof listPasskeys>>[number];
const wire = (passkey: View) => ({
  id: passkey.id,
  nickname: passkey.nickname,
  created: iso(passkey.createdAt),
  lastUsed: passkey.lastUsedAt === null ? null : iso(passkey.lastUsedAt),
  transports: passkey.transports,
  aaguid: passkey.aaguid,
  backupEligible: passkey.backupEligible,
  backedUp: passkey.backedUp,
});

/** Passkeys and security keys, under the user's multi-factor resources (the same callers). */
export function registerPasskeyRoutes(app: HttpServer, deps: Deps): void {
  app.get(`${BASE}/passkeys`, { schema: { params: userParams, ...listDoc } }, async (request) => {
    const { target } = await multiFactorTarget(deps, request, request.params.userId);
    return { 'latchkey:passkeys': (await listPasskeys(deps.db, target.id)).map(wire) };
  });

  app.put(
    `${BASE}/passkeys/:passkeyId`,
    {
      schema: { params: passkeyParams, body: renameBody, ...renameDoc },
      config: { openapi: { body: RenameRequestSchema } },
      preValidation: emptyBodyAsObject,
    },
    async (request) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const renamed = await renamePasskey(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.params.passkeyId,
        request.body['latchkey:passkey']?.nickname,
      );
      return { 'latchkey:passkey': wire(renamed) };
    },
  );

  app.delete(
    `${BASE}/passkeys/:passkeyId`,
    { schema: { params: passkeyParams, ...deleteDoc } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await deletePasskey(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.params.passkeyId,
      );
      return reply.code(204).send();
    },
  );
}

import { Type } from 'typebox';
import { Messages } from '../../../core/errors.js';
import {
  BypassMessages,
  formatXsdDuration,
  generateBypassCodes,
} from '../../../factors/bypass-codes/generate.js';
import { changeMultiFactor, removeMultiFactor, SettingsMessages } from '../../../factors/settings.js';
import type { Deps } from '../../../services/deps.js';
import { requireCaller } from '../../auth.js';
import { described, fault, noContent, notFoundFault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';
import { BypassCodesRequestSchema, BypassCodesResponseSchema, MultiFactorRequestSchema } from '../schemas.js';
import { emptyBodyAsObject } from './otp-devices.js';

const BASE = '/v2.0/users/:userId/RAX-AUTH/multi-factor';
const userParams = Type.Object({ userId: hexId() });

// Types are checked here; missing values, enum values and category rules get the reference's
// messages from factors/ (a schema validator's wording would not match them).
const nullable = <T extends Parameters<typeof Type.Optional>[0]>(schema: T) =>
  Type.Optional(Type.Union([schema, Type.Null()]));

const settingsBody = Type.Object({
  'RAX-AUTH:multiFactor': Type.Optional(
    Type.Union([
      Type.Object({
        enabled: nullable(Type.Boolean()),
        factorType: nullable(Type.String({ maxLength: 64 })),
        unlock: nullable(Type.Boolean()),
        userMultiFactorEnforcementLevel: nullable(Type.String({ maxLength: 64 })),
      }),
      Type.Null(),
    ]),
  ),
});

const bypassBody = Type.Object({
  'RAX-AUTH:bypassCodes': Type.Optional(
    Type.Union([
      Type.Object({
        validityDuration: nullable(Type.String({ maxLength: 64 })),
        // A string or a number (reference §7.11); its range is checked in factors/.
        numberOfCodes: nullable(Type.Union([Type.String({ maxLength: 16 }), Type.Number()])),
      }),
      Type.Null(),
    ]),
  ),
});

/** Every settings refusal is a 400 but the one about one's own account, a 403. */
const { ownAccount: _403, ...SETTINGS_400_MESSAGES } = SettingsMessages;

const userNotFound = notFoundFault('User 0123456789abcdef0123456789abcdef not found');

const settingsDoc = operation({
  summary: 'Enable or disable MFA, choose the factor, unlock, or set the user enforcement level',
  description: `One change per request:
- \`{"enabled":true}\` needs a verified device (an authenticator app or a phone); it revokes the user's password-only tokens. With both, \`factorType\` (SMS or OTP) says which step 2 asks for.
- \`{"enabled":false}\` turns MFA off (devices stay).
- \`{"unlock":true}\`, by an administrator over the user: clears the MFA lock (seven wrong passcodes) and the password lock.
- \`{"userMultiFactorEnforcementLevel":"DEFAULT"|"OPTIONAL"|"REQUIRED"}\`, by an administrator: REQUIRED logs the user out until MFA is set up.

A SETUP-MFA token may make its own user's changes here.`,
  tag: Tags.multiFactor,
  responses: {
    204: noContent('Changed.'),
    400: fault(400, 'No change, several at once, or a change the user cannot take yet.', [
      ...Object.values(SETTINGS_400_MESSAGES),
    ]),
    403: fault(403, 'The caller may not make that change for that user.', [
      Messages.notAuthorized,
      SettingsMessages.ownAccount,
    ]),
    404: userNotFound,
  },
});

const removeDoc = operation({
  summary: 'Remove MFA: disable it and delete every device and bypass code',
  tag: Tags.multiFactor,
  responses: { 204: noContent('Removed.'), 404: userNotFound },
});

const bypassDoc = operation({
  summary: 'Generate bypass codes (a new batch replaces the old one)',
  description:
    'For oneself: 1 to 10 eight-digit codes, which never expire unless validityDuration is given. For another user (an administrator over it): exactly one, valid PT30M by default and at most PT180M. Each works once at step 2 in place of a passcode. The body may be left out (one code).',
  tag: Tags.bypass,
  responses: {
    200: described(BypassCodesResponseSchema, 'The codes, shown only now.'),
    400: fault(400, 'A bad number or duration, or a user without MFA.', Object.values(BypassMessages)),
    404: userNotFound,
  },
});

/** MFA settings, removal and bypass codes: reference §7.11–7.13. */
export function registerMultiFactorRoutes(app: HttpServer, deps: Deps): void {
  app.put(
    BASE,
    {
      schema: { params: userParams, body: settingsBody, ...settingsDoc },
      config: { openapi: { body: MultiFactorRequestSchema } },
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const { userId } = request.params;
      // The multi-factor access rule (as in multiFactorTarget), split around the body: which
      // callers may act depends on the change asked for (the enforcement level has its own).
      const caller = await requireCaller(deps, request, { kind: 'multi-factor', userId });
      await changeMultiFactor(deps, caller, userId, request.body['RAX-AUTH:multiFactor']);
      return reply.code(204).send();
    },
  );

  app.delete(BASE, { schema: { params: userParams, ...removeDoc } }, async (request, reply) => {
    const { userId } = request.params;
    const caller = await requireCaller(deps, request, { kind: 'multi-factor', userId });
    await removeMultiFactor(deps, caller, userId);
    return reply.code(204).send();
  });

  app.post(
    `${BASE}/bypass-codes`,
    {
      schema: { params: userParams, body: bypassBody, ...bypassDoc },
      config: { openapi: { body: BypassCodesRequestSchema } },
      preValidation: emptyBodyAsObject,
    },
    async (request) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const batch = await generateBypassCodes(
        deps,
        caller,
        target,
        request.body['RAX-AUTH:bypassCodes'] ?? {},
      );
      return {
        'RAX-AUTH:bypassCodes': {
          codes: batch.codes,
          ...(batch.validityMs === null ? {} : { validityDuration: formatXsdDuration(batch.validityMs) }),
        },
      };
    },
  );
}

import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import { formatXsdDuration, generateBypassCodes } from '../../factors/bypass-codes/generate.js';
import {
  applyMultiFactorChange,
  authorizeMultiFactorChange,
  parseMultiFactorChange,
  removeMultiFactor,
} from '../../factors/settings.js';
import { requireUser } from '../../identity/users.js';
import type { Api as App } from '../api.js';
import { requireCaller } from '../auth.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';
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

/** MFA settings, removal and bypass codes: reference §7.11–7.13. */
export function registerMultiFactorRoutes(app: App, deps: Deps): void {
  app.put(
    BASE,
    { schema: { params: userParams, body: settingsBody }, preValidation: emptyBodyAsObject },
    async (request, reply) => {
      const { userId } = request.params;
      // The multi-factor access rule (as in multiFactorTarget), split around the body: which
      // callers may act depends on the change asked for (the enforcement level has its own).
      const caller = await requireCaller(deps, request, { kind: 'multi-factor', userId });
      const change = parseMultiFactorChange(request.body['RAX-AUTH:multiFactor']);
      const target = await requireUser(deps.db, userId);
      authorizeMultiFactorChange(caller, target, change);
      await applyMultiFactorChange(
        deps,
        { userId: caller.user.id, source: caller.source },
        target.id,
        change,
      );
      return reply.code(204).send();
    },
  );

  app.delete(BASE, { schema: { params: userParams } }, async (request, reply) => {
    const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
    await removeMultiFactor(deps, { userId: caller.user.id, source: caller.source }, target.id);
    return reply.code(204).send();
  });

  app.post(
    `${BASE}/bypass-codes`,
    { schema: { params: userParams, body: bypassBody }, preValidation: emptyBodyAsObject },
    async (request) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const batch = await generateBypassCodes(
        deps,
        { userId: caller.user.id, source: caller.source },
        caller.user,
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

import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import {
  addOtpDevice,
  deleteOtpDevice,
  getOtpDevice,
  listAllDevices,
  listOtpDevices,
  verifyOtpDevice,
} from '../../factors/totp/devices.js';
import type { Api as App } from '../api.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';

const BASE = '/v2.0/users/:userId/RAX-AUTH/multi-factor';

const userParams = Type.Object({ userId: hexId() });
const deviceParams = Type.Object({
  userId: hexId(),
  deviceId: hexId(),
});

// Every field optional and nullable: a missing or blank value gets the reference's own message
// from factors/totp/devices.ts, not a schema validator's.
const nullableString = Type.Optional(Type.Union([Type.String(), Type.Null()]));
const addBody = Type.Object({
  'RAX-AUTH:otpDevice': Type.Optional(Type.Union([Type.Object({ name: nullableString }), Type.Null()])),
});
const verifyBody = Type.Object({
  'RAX-AUTH:verificationCode': Type.Optional(
    Type.Union([Type.Object({ code: nullableString }), Type.Null()]),
  ),
});

/** A request without a body (or with an empty JSON one) is validated as `{}`. */
export async function emptyBodyAsObject(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}

/** Authenticator apps: reference §7.7–7.10. */
export function registerOtpRoutes(app: App, deps: Deps): void {
  app.post(
    `${BASE}/otp-devices`,
    { schema: { params: userParams, body: addBody }, preValidation: emptyBodyAsObject },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const device = await addOtpDevice(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.body['RAX-AUTH:otpDevice']?.name,
      );
      return reply
        .code(201)
        .header('Location', `/v2.0/users/${target.id}/RAX-AUTH/multi-factor/otp-devices/${device.id}`)
        .send({
          'RAX-AUTH:otpDevice': {
            id: device.id,
            keyUri: device.keyUri,
            name: device.name,
            qrcode: device.qrcode,
            verified: device.verified,
          },
        });
    },
  );

  const list = async (request: FastifyRequest<{ Params: { userId: string } }>) => {
    const { target } = await multiFactorTarget(deps, request, request.params.userId);
    return { 'RAX-AUTH:otpDevices': await listOtpDevices(deps.db, target.id) };
  };
  app.get(`${BASE}/otp-devices`, { schema: { params: userParams } }, list);
  app.get(`${BASE}/devices/otp-devices`, { schema: { params: userParams } }, list);

  app.get(`${BASE}/devices`, { schema: { params: userParams } }, async (request) => {
    const { target } = await multiFactorTarget(deps, request, request.params.userId);
    return { 'RAX-AUTH:multiFactorDevices': await listAllDevices(deps.db, target.id) };
  });

  app.get(`${BASE}/otp-devices/:deviceId`, { schema: { params: deviceParams } }, async (request) => {
    const { target } = await multiFactorTarget(deps, request, request.params.userId);
    return { 'RAX-AUTH:otpDevice': await getOtpDevice(deps.db, target.id, request.params.deviceId) };
  });

  app.delete(
    `${BASE}/otp-devices/:deviceId`,
    { schema: { params: deviceParams } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await deleteOtpDevice(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.params.deviceId,
      );
      return reply.code(204).send();
    },
  );

  app.post(
    `${BASE}/otp-devices/:deviceId/verify`,
    { schema: { params: deviceParams, body: verifyBody }, preValidation: emptyBodyAsObject },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await verifyOtpDevice(
        deps,
        { userId: caller.user.id, source: caller.source },
        target,
        request.params.deviceId,
        request.body['RAX-AUTH:verificationCode']?.code,
      );
      return reply.code(204).send();
    },
  );
}

import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  addOtpDevice,
  deleteOtpDevice,
  getOtpDevice,
  listAllDevices,
  listOtpDevices,
  OtpMessages,
  verifyOtpDevice,
} from '../../../factors/totp/devices.js';
import type { Deps } from '../../../services/deps.js';
import { described, fault, noContent, notFoundFault, operation, Tags, withHeaders } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { multiFactorTarget } from '../multi-factor-access.js';
import {
  DevicesResponseSchema,
  NewOtpDeviceResponseSchema,
  OtpDeviceRequestSchema,
  OtpDeviceResponseSchema,
  OtpDevicesResponseSchema,
  VerificationCodeRequestSchema,
} from '../schemas.js';

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

const userNotFound = notFoundFault('User 0123456789abcdef0123456789abcdef not found');
const deviceNotFound = notFoundFault(OtpMessages.notFound, OtpMessages.deleteNotFound);

const addDoc = operation({
  summary: 'Add an authenticator app (OTP device)',
  description:
    'The answer holds keyUri (otpauth://, with the secret) and qrcode (a PNG data URI of it), shown only now. Verify the device with a current code, then enable MFA. At most 5 devices.',
  tag: Tags.otp,
  responses: {
    201: withHeaders(described(NewOtpDeviceResponseSchema, 'The device, unverified, with its secret.'), {
      Location: Type.String({
        description: '/v2.0/users/{userId}/RAX-AUTH/multi-factor/otp-devices/{deviceId}',
      }),
    }),
    400: fault(400, 'No name, a bad name, or too many devices.', [
      OtpMessages.nameMissing,
      OtpMessages.nameTooLong,
      OtpMessages.nameInvalid,
      OtpMessages.tooMany,
    ]),
    404: userNotFound,
  },
});

const listDoc = (summary: string) =>
  operation({
    summary,
    tag: Tags.otp,
    responses: { 200: described(OtpDevicesResponseSchema, 'The devices (no secrets).'), 404: userNotFound },
  });

const devicesDoc = operation({
  summary: "All of a user's MFA devices: phones and authenticator apps",
  tag: Tags.multiFactor,
  responses: { 200: described(DevicesResponseSchema, 'The phones and the OTP devices.'), 404: userNotFound },
});

const getDoc = operation({
  summary: 'Get an authenticator app',
  tag: Tags.otp,
  responses: { 200: described(OtpDeviceResponseSchema, 'The device (no secret).'), 404: deviceNotFound },
});

const deleteDoc = operation({
  summary: 'Delete an authenticator app',
  tag: Tags.otp,
  responses: {
    204: noContent('Deleted.'),
    400: fault(400, 'The last verified device of a user whose factor is OTP.', [OtpMessages.lastVerified]),
    404: deviceNotFound,
  },
});

const verifyDoc = operation({
  summary: 'Verify an authenticator app with a code it shows',
  tag: Tags.otp,
  responses: {
    204: noContent('Verified: MFA can now be enabled.'),
    400: fault(400, 'No code, a wrong or replayed code, or a device already verified.', [
      OtpMessages.codeMissing,
      OtpMessages.badCode,
      OtpMessages.alreadyVerified,
    ]),
    404: deviceNotFound,
  },
});

/** Authenticator apps: reference §7.7–7.10. */
export function registerOtpRoutes(app: HttpServer, deps: Deps): void {
  app.post(
    `${BASE}/otp-devices`,
    {
      schema: { params: userParams, body: addBody, ...addDoc },
      config: { openapi: { body: OtpDeviceRequestSchema } },
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      const device = await addOtpDevice(deps, caller, target, request.body['RAX-AUTH:otpDevice']?.name);
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
  app.get(
    `${BASE}/otp-devices`,
    { schema: { params: userParams, ...listDoc("A user's authenticator apps") } },
    list,
  );
  app.get(
    `${BASE}/devices/otp-devices`,
    { schema: { params: userParams, ...listDoc("A user's authenticator apps (the same list)") } },
    list,
  );

  app.get(`${BASE}/devices`, { schema: { params: userParams, ...devicesDoc } }, async (request) => {
    const { target } = await multiFactorTarget(deps, request, request.params.userId);
    return { 'RAX-AUTH:multiFactorDevices': await listAllDevices(deps.db, target.id) };
  });

  app.get(
    `${BASE}/otp-devices/:deviceId`,
    { schema: { params: deviceParams, ...getDoc } },
    async (request) => {
      const { target } = await multiFactorTarget(deps, request, request.params.userId);
      return { 'RAX-AUTH:otpDevice': await getOtpDevice(deps.db, target.id, request.params.deviceId) };
    },
  );

  app.delete(
    `${BASE}/otp-devices/:deviceId`,
    { schema: { params: deviceParams, ...deleteDoc } },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await deleteOtpDevice(deps, caller, target, request.params.deviceId);
      return reply.code(204).send();
    },
  );

  app.post(
    `${BASE}/otp-devices/:deviceId/verify`,
    {
      schema: { params: deviceParams, body: verifyBody, ...verifyDoc },
      config: { openapi: { body: VerificationCodeRequestSchema } },
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const { caller, target } = await multiFactorTarget(deps, request, request.params.userId);
      await verifyOtpDevice(
        deps,
        caller,
        target,
        request.params.deviceId,
        request.body['RAX-AUTH:verificationCode']?.code,
      );
      return reply.code(204).send();
    },
  );
}

import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.js';
import { baseUrlOf } from '../discovery.js';

/**
 * Identity v3's error body (Keystone's renderer): `{"error":{"code","title","message"}}`, the
 * title being the status's reason phrase; every 401 says where to authenticate, in
 * `WWW-Authenticate: Keystone uri="<base>/v3"`.
 */
export function keystoneErrorBody(error: ApiError): {
  error: { code: number; title: string; message: string };
} {
  return {
    error: { code: error.status, title: STATUS_CODES[error.status] ?? 'Error', message: error.message },
  };
}

export function sendKeystoneError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: ApiError,
): FastifyReply {
  reply.code(error.status).headers(error.headers).type('application/json');
  if (error.status === 401) reply.header('WWW-Authenticate', `Keystone uri="${baseUrlOf(request)}/v3"`);
  return reply.send(keystoneErrorBody(localize(error)));
}

/**
 * A few domain messages are worded for the v2.0 API; v3 clients get one that says what to do in
 * their terms.
 */
function localize(error: ApiError): ApiError {
  if (error.reason === 'must-set-up-mfa') {
    return new ApiError(error.status, error.fault, MUST_SET_UP_MFA_V3, error.headers);
  }
  return error;
}

export const MUST_SET_UP_MFA_V3 =
  'User must setup multi-factor: multi-factor authentication is required for this user before any login. ' +
  'Set it up first: get a token for that from POST /v2.0/tokens with "RAX-AUTH:scope": "SETUP-MFA" and your password, ' +
  'add and verify an authenticator app (RAX-AUTH/multi-factor/otp-devices) or a phone (RAX-AUTH/multi-factor/mobile-phones), ' +
  'and enable multi-factor (PUT /v2.0/users/{userId}/RAX-AUTH/multi-factor). ' +
  'Then log in here with your password and a passcode (auth methods ["password","totp"]).';

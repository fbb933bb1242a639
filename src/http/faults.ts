import type { FastifyError, FastifyReply } from 'fastify';
import { ApiError, type FaultName } from '../errors.js';

/** Body limit (ours, API.md): 64 KiB. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const FAULT_BY_STATUS: Record<number, FaultName> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'methodNotAllowed',
  406: 'notAcceptable',
  413: 'overLimit',
  415: 'unsupportedMediaType',
  429: 'overLimit',
  503: 'serviceUnavailable',
};

/** The contract's fault body (reference §2.1): `{"<fault>":{"code":N,"message":"..."}}`. */
export function sendFault(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers(error.headers).type('application/json').send(error.toBody());
}

/** Fastify's own client errors keep their status but get the contract's fault body and wording. */
function clientErrorMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `Request body is larger than ${BODY_LIMIT_BYTES} bytes.`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported media type: send application/json.';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'Request body is empty.';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'Request body is not valid JSON.';
    default:
      if (error.validation) return `Invalid request: ${error.message}`;
      return error.statusCode === 400 ? 'Invalid request.' : error.message;
  }
}

/**
 * Any error as a contract fault. Anything unexpected becomes a generic 500: the stack goes to
 * the log, the client learns nothing (Fastify's default would echo the message).
 */
export function toApiError(
  error: FastifyError | ApiError,
  log: { error(obj: object, msg: string): void },
): ApiError {
  if (error instanceof ApiError) return error;
  const status = error.statusCode ?? 500;
  const fault = FAULT_BY_STATUS[status];
  if (status >= 400 && status < 500 && fault) return new ApiError(status, fault, clientErrorMessage(error));
  log.error({ err: error }, 'unhandled error');
  return new ApiError(500, 'identityFault', 'The service encountered an unexpected error.');
}

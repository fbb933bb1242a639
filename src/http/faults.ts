import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply } from 'fastify';
import { ApiError, type FaultName, Messages } from '../core/errors.js';

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
      if (error.validation) return `Invalid request: ${validationMessage(error.validation)}`;
      return error.statusCode === 400 ? 'Invalid request.' : error.message;
  }
}

type ValidationIssue = NonNullable<FastifyError['validation']>[number];

/** What the id and filter patterns of the routes (ids.ts, events) ask for, in words. */
const PATTERN_WORDS: Record<string, string> = {
  '^[0-9a-f]{32}$': 'a 32-character lowercase hexadecimal id',
  '^[0-9]{1,18}$': 'a numeric id',
  '^[0-9]{1,6}$': 'a whole number',
  '^[a-z_.]{1,64}$': 'an event type such as login.succeeded',
};

/**
 * A schema validator's first complaint in a client's terms: the field as the client named it
 * and what it must be (`dryRun must be true or false`), not the validator's schema paths.
 */
function validationMessage(issues: ValidationIssue[]): string {
  const [first] = issues;
  if (!first) return 'the request does not match the expected form.';
  const field = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const params = first.params as Record<string, unknown>;
  const name = field === '' ? 'the body' : field;
  // A choice of literals: every branch's constant at that path.
  const choices = issues
    .filter((issue) => issue.instancePath === first.instancePath && issue.keyword === 'const')
    .map((issue) => String((issue.params as { allowedValue?: unknown }).allowedValue));
  const allowed = Array.isArray(params.allowedValues) ? params.allowedValues.map(String) : choices;
  if ((first.keyword === 'enum' || first.keyword === 'const') && allowed.length > 0) {
    const listed = allowed.length <= 2 ? allowed.join(' or ') : `one of ${allowed.join(', ')}`;
    return `${name} must be ${listed}.`;
  }
  switch (first.keyword) {
    case 'required':
      return `${field === '' ? '' : `${field}.`}${String(params.missingProperty)} is required.`;
    case 'type':
      return `${name} must be of type ${String(params.type)}.`;
    case 'maxLength':
      return `${name} must be at most ${String(params.limit)} characters.`;
    case 'pattern': {
      const words = PATTERN_WORDS[String(params.pattern)];
      return `${name} must be ${words ?? `of the form ${String(params.pattern)}`}.`;
    }
    default:
      return `${name} ${first.message ?? 'is not valid'}.`;
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
  // A path id of the wrong shape names nothing that could exist (see ids.ts).
  if (error.validation && error.validationContext === 'params') {
    const token = error.validation.some((issue) => issue.instancePath === '/tokenId');
    return new ApiError(404, 'itemNotFound', token ? Messages.tokenNotFound : 'Resource not found.');
  }
  const status = error.statusCode ?? 500;
  const fault = FAULT_BY_STATUS[status];
  if (status >= 400 && status < 500 && fault) return new ApiError(status, fault, clientErrorMessage(error));
  log.error({ err: error }, 'unhandled error');
  return new ApiError(500, 'identityFault', 'The service encountered an unexpected error.');
}

// The edge's checks live in hostile-input.ts; the v2.0 names stay importable from here.
export { CONTROL_CHARACTERS_MESSAGE, hasForbiddenCharacters } from './hostile-input.js';

/**
 * Requests Node's HTTP parser refuses before any route sees them (a bad HTTP version, NUL in a
 * header, Content-Length with Transfer-Encoding, raw bytes in the path) and requests that take
 * too long to arrive: the contract's fault body, then the connection is closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let fault: ApiError;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    fault = new ApiError(408, 'badRequest', 'The request took too long to arrive.');
  else if (error.code === 'HPE_HEADER_OVERFLOW')
    fault = new ApiError(431, 'overLimit', 'The request headers are too large.');
  else fault = new ApiError(400, 'badRequest', 'Invalid request: this is not a valid HTTP request.');
  const body = JSON.stringify(fault.toBody());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${fault.status} ${STATUS_CODES[fault.status] ?? ''}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

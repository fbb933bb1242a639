/**
 * Every answer an API route gives in the test suite is held to that route's documented response
 * schema (the one the OpenAPI document publishes): a status the route does not document, a body
 * with a field missing, of another type or not in the schema, a JSON body not sent as JSON, or a
 * documented response header unlike its schema, turns into a 500 naming the
 * difference, so the test that met it fails. Bodies are checked whatever form Fastify holds
 * them in (a string, a Buffer, a stream).
 */
import { Readable } from 'node:stream';
import { Ajv, type ValidateFunction } from 'ajv';
import type { HttpServer } from '../../src/http/server-instance.js';

type Schema = Record<string, unknown>;

const ajv = new Ajv({ strict: false, allErrors: true });
const compiled = new WeakMap<object, ValidateFunction>();

/** The schema with every object closed: a field the document does not name is a difference. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const copy: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    // Examples and response headers are documentation, not schemas.
    copy[key] = key === 'examples' || key === 'headers' ? value : closed(value);
  }
  if (copy.properties !== undefined && copy.additionalProperties === undefined)
    copy.additionalProperties = false;
  return copy;
}

function validatorFor(schema: Schema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    const content = schema.content as Record<string, { schema: Schema }> | undefined;
    const body = content ? Object.values(content)[0]?.schema : schema;
    validate = ajv.compile(closed(body ?? {}) as Schema);
    compiled.set(schema, validate);
  }
  return validate;
}

const headerValidators = new WeakMap<object, ValidateFunction>();

function headerValidatorFor(schema: Schema): ValidateFunction {
  let validate = headerValidators.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    headerValidators.set(schema, validate);
  }
  return validate;
}

/** What differs between the answer's headers and the ones its schema documents, if anything. */
function headerDifference(
  schema: Schema,
  header: (name: string) => unknown,
  bodyIsJson: boolean,
): string | undefined {
  const content = schema.content as Record<string, unknown> | undefined;
  const documentedType = content ? Object.keys(content)[0] : 'application/json';
  const contentType = String(header('content-type') ?? '');
  if (bodyIsJson && documentedType?.includes('json') && !contentType.includes('application/json'))
    return `sent a JSON body as '${contentType}'`;
  const headers = (schema.headers ?? {}) as Record<string, Schema>;
  for (const [name, headerSchema] of Object.entries(headers)) {
    // OpenAPI headers are optional unless marked required: a 401 documents WWW-Authenticate for
    // the challenge, which a wrong password's 401 has no reason to send.
    const value = header(name.toLowerCase());
    if (value === undefined) continue;
    const validate = headerValidatorFor(headerSchema);
    if (!validate(String(value)))
      return `sent ${name}: ${String(value)}, unlike its schema (${ajv.errorsText(validate.errors)})`;
  }
  return undefined;
}

async function textOf(payload: unknown): Promise<{ text: string | undefined; payload: unknown }> {
  if (typeof payload === 'string') return { text: payload, payload };
  if (Buffer.isBuffer(payload)) return { text: payload.toString('utf8'), payload };
  if (payload instanceof Readable) {
    // Read it whole to check it, and send what was read.
    const chunks: Buffer[] = [];
    for await (const chunk of payload)
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    const whole = Buffer.concat(chunks);
    return { text: whole.toString('utf8'), payload: whole };
  }
  return { text: undefined, payload };
}

export const CONTRACT_BREACH = 'responseContractBreach';

function breach(route: string, detail: string): string {
  const message = `${route}: ${detail}`;
  process.stderr.write(`response contract: ${message}\n`);
  return JSON.stringify({ [CONTRACT_BREACH]: { code: 500, message } });
}

/** The parts of an answer the check reads, whoever produced it. */
export interface Answer {
  status: number;
  header(name: string): unknown;
  /** The body as text; undefined when it is of a kind the check cannot read. */
  text: string | undefined;
}

/**
 * What differs between an answer and the responses its route documents (keyed by status), or
 * undefined when they agree.
 */
export function answerDifference(responses: Record<string, Schema>, answer: Answer): string | undefined {
  const { status, text } = answer;
  const schema = responses[String(status)];
  if (!schema) return `answered ${status}, which its schema does not document`;
  if (schema.type === 'null') {
    return text === undefined || text === ''
      ? undefined
      : `answered ${status} with a body where none is documented`;
  }
  if (text === undefined) return `answered ${status} with a body of a kind the check cannot read`;
  const contentType = String(answer.header('content-type') ?? '');
  let body: unknown = text;
  if (contentType.includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      return `answered ${status} with a body sent as JSON that is not: ${text.slice(0, 200)}`;
    }
  }
  const headerProblem = headerDifference(schema, answer.header, typeof body === 'object' && body !== null);
  if (headerProblem) return `answered ${status} and ${headerProblem}`;
  const validate = validatorFor(schema);
  if (validate(body)) return undefined;
  return `answered ${status} unlike its schema: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 400)}`;
}

/** Installs the check; call before app.ready(). */
export function checkResponsesAgainstSchemas(app: HttpServer): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const responses = request.routeOptions.schema?.response as Record<string, Schema> | undefined;
    // Routes without response schemas are not documented ones (control panel pages).
    if (!responses) return payload;
    const read = await textOf(payload);
    const difference = answerDifference(responses, {
      status: reply.statusCode,
      header: (name) => reply.getHeader(name),
      text: payload === undefined || payload === null ? '' : read.text,
    });
    if (difference === undefined) return read.payload;
    reply.code(500);
    return breach(`${request.method} ${request.routeOptions.url}`, difference);
  });
}

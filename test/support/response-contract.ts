/**
 * Every answer an API route gives in the test suite is held to that route's documented response
 * schema (the one the OpenAPI document publishes): a status the route does not document, or a
 * body with a field missing, of another type or not in the schema, turns into a 500 naming the
 * difference, so the test that met it fails.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { App } from '../../src/app.js';

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

export const CONTRACT_BREACH = 'responseContractBreach';

function breach(route: string, detail: string): string {
  const message = `${route}: ${detail}`;
  process.stderr.write(`response contract: ${message}\n`);
  return JSON.stringify({ [CONTRACT_BREACH]: { code: 500, message } });
}

/** Installs the check; call before app.ready(). */
export function checkResponsesAgainstSchemas(app: App): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const responses = request.routeOptions.schema?.response as Record<string, Schema> | undefined;
    // Routes without response schemas are not documented ones (control panel pages).
    if (!responses) return payload;
    const route = `${request.method} ${request.routeOptions.url}`;
    const status = reply.statusCode;
    const schema = responses[String(status)];
    if (!schema) {
      reply.code(500);
      return breach(route, `answered ${status}, which its schema does not document`);
    }
    if (schema.type === 'null') {
      if (payload === undefined || payload === null || payload === '') return payload;
      reply.code(500);
      return breach(route, `answered ${status} with a body where none is documented`);
    }
    if (typeof payload !== 'string') return payload;
    const contentType = String(reply.getHeader('content-type') ?? '');
    const body: unknown = contentType.includes('json') ? JSON.parse(payload) : payload;
    const validate = validatorFor(schema);
    if (validate(body)) return payload;
    reply.code(500);
    return breach(
      route,
      `answered ${status} unlike its schema: ${ajv.errorsText(validate.errors)} in ${payload.slice(0, 400)}`,
    );
  });
}

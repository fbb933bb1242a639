/**
 * Identity v3 in the OpenAPI document: Keystone's bodies and its error format, so the v3 routes
 * document their answers the way the v2.0 routes do (../openapi.ts).
 */
import { type TSchema, Type } from 'typebox';
import { Messages } from '../../core/errors.js';
import {
  errorSchema,
  type OperationDoc,
  type OperationSchema,
  operation,
  type Surface,
  withHeaders,
} from '../openapi.js';
import { RECEIPT_HEADER, V3Messages } from './auth-request.js';

const KeystoneError = Type.Object({
  error: Type.Object({
    code: Type.Integer(),
    title: Type.String({ description: "The status's reason phrase." }),
    message: Type.String(),
  }),
});

const keystoneUri = {
  'WWW-Authenticate': Type.String({ description: 'On every 401: Keystone uri="<base>/v3".' }),
};

/** An error answer in Keystone's body, `{"error":{"code","title","message"}}`. */
export function keystoneFault(
  status: number,
  description: string,
  messages: string[] = [],
  headers?: Record<string, TSchema>,
): TSchema {
  const examples = messages.map((message) => ({ error: { code: status, title: '…', message } }));
  return errorSchema(
    KeystoneError,
    description,
    examples,
    status === 401 ? { ...keystoneUri, ...headers } : headers,
  );
}

/** Identity v3: Keystone's error body; it does not check Accept. */
const V3_SURFACE: Surface = { fault: keystoneFault, checksAccept: false };

export const v3Operation = (doc: OperationDoc): OperationSchema => operation(doc, V3_SURFACE);

const Domain = Type.Object({ id: Type.String(), name: Type.String() });
const referenceFields = {
  id: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  domain: Type.Optional(
    Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()) }),
  ),
};
const Reference = (what: string, extra: Record<string, TSchema> = {}) =>
  Type.Object(
    { ...referenceFields, ...extra },
    {
      description: `The ${what} by id, or by name with its domain (\`default\` finds the global usernames).`,
    },
  );

export const V3AuthRequestSchema = Type.Object({
  auth: Type.Object({
    identity: Type.Object({
      methods: Type.Array(
        Type.Union([Type.Literal('password'), Type.Literal('totp'), Type.Literal('token')]),
        {
          description:
            'password; password and totp together; totp alone with the Openstack-Auth-Receipt header of a first step; or token.',
        },
      ),
      password: Type.Optional(Type.Object({ user: Reference('user', { password: Type.String() }) })),
      totp: Type.Optional(
        Type.Object({
          user: Reference('user', {
            passcode: Type.String({
              description: 'From the authenticator app or the SMS, or a bypass or temporary code.',
            }),
          }),
        }),
      ),
      token: Type.Optional(Type.Object({ id: Type.String() })),
    }),
    scope: Type.Optional(
      Type.Union([Type.Literal('unscoped'), Type.Object({ project: Reference('project') })], {
        description: "The account's project (its id is the domain id), or unscoped.",
      }),
    ),
  }),
});

const Endpoint = Type.Object({
  id: Type.String(),
  interface: Type.String(),
  region: Type.Union([Type.String(), Type.Null()]),
  region_id: Type.Union([Type.String(), Type.Null()]),
  url: Type.String(),
});

export const V3TokenSchema = Type.Object({
  token: Type.Object({
    methods: Type.Array(Type.String()),
    user: Type.Object({
      id: Type.String(),
      name: Type.String(),
      domain: Domain,
      password_expires_at: Type.Null(),
    }),
    audit_ids: Type.Array(Type.String()),
    expires_at: Type.String(),
    issued_at: Type.String(),
    project: Type.Optional(Type.Object({ id: Type.String(), name: Type.String(), domain: Domain })),
    is_domain: Type.Optional(Type.Boolean()),
    roles: Type.Optional(
      Type.Array(Type.Object({ id: Type.String(), name: Type.String() }), {
        description: 'Absent, as the catalog, from an unscoped token (a user outside any account).',
      }),
    ),
    catalog: Type.Optional(
      Type.Array(
        Type.Object({
          id: Type.String(),
          name: Type.String(),
          type: Type.String(),
          endpoints: Type.Array(Endpoint),
        }),
        { description: 'Absent with ?nocatalog.' },
      ),
    ),
  }),
});

export const ReceiptSchema = Type.Object(
  {
    receipt: Type.Object({
      expires_at: Type.String(),
      issued_at: Type.String(),
      methods: Type.Array(Type.String()),
      user: Type.Object({ id: Type.String(), name: Type.String(), domain: Domain }),
    }),
    required_auth_methods: Type.Array(Type.Array(Type.String())),
    error: Type.Optional(
      Type.Object(
        {
          code: Type.Literal(401),
          title: Type.Literal('Unauthorized'),
          message: Type.String(),
        },
        {
          description:
            "Ours, in Keystone's error shape: why this user answers with a passcode, when there is more to say (a user whose default is a passkey, which works in the control panel only; an SMS passcode that could not be sent).",
        },
      ),
    ),
  },
  {
    description: `The password was right and a passcode is needed: send methods ["totp"] with the ${RECEIPT_HEADER} header within 5 minutes.`,
    headers: {
      [RECEIPT_HEADER]: Type.String({ description: 'The auth receipt (an OS-MF session id).' }),
      ...keystoneUri,
    },
  },
);

export const loginFaults = {
  400: keystoneFault(400, 'A malformed request.', [
    'Invalid request: expecting to find auth in the request body.',
    V3Messages.passcodeMissing,
    V3Messages.receiptWithTotpOnly,
    V3Messages.differentUsers,
    V3Messages.domainScope,
    V3Messages.systemScope,
    V3Messages.trustScope,
  ]),
  401: Type.Union(
    [
      ReceiptSchema,
      keystoneFault(401, 'Wrong credentials, an unsupported method, or a wrong or expired passcode.', [
        Messages.badPassword,
        V3Messages.unsupportedMethod,
        V3Messages.passcodeAlone,
        V3Messages.noReceipt,
        Messages.wrongPasscode,
        Messages.sessionExpired,
        Messages.locked,
      ]),
    ],
    {
      description: `An auth receipt (with ${RECEIPT_HEADER}) when a passcode is needed; otherwise Keystone's error body.`,
    },
  ),
  404: keystoneFault(404, 'The token method with a token that is not (or no longer) valid.', [
    Messages.tokenNotFound,
  ]),
  403: keystoneFault(
    403,
    "MFA must be set up first (with v2.0's SETUP-MFA token), a disabled user, or the locking passcode.",
    [Messages.locked],
  ),
  429: keystoneFault(429, 'Too many failed logins from this address.', [], {
    'Retry-After': Type.String({ description: 'Seconds to wait.' }),
  }),
};

export const subjectHeader = Type.Object({
  'x-subject-token': Type.String({ description: 'The token to validate or revoke.' }),
});

export const tokenFound = (ok: TSchema): TSchema =>
  withHeaders(ok, { 'X-Subject-Token': Type.String({ description: 'The subject token.' }) });

export const subjectNotFound = keystoneFault(404, 'No such live token, or one the caller may not see.', [
  Messages.tokenNotFound,
]);

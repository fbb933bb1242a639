/**
 * The v2.0 wire format as JSON Schema: what the OpenAPI document publishes and what the test
 * suite checks every answer against. The TypeScript types in wire.ts are the same shapes for the
 * code; the assertions at the end fail to compile when the two drift apart.
 */
import { type Static, Type } from 'typebox';
import { described } from '../openapi.js';
import { hexId } from './ids.js';
import type * as Wire from './wire.js';

export const AuthMethodSchema = Type.Union(
  [
    Type.Literal('PASSWORD'),
    Type.Literal('APIKEY'),
    Type.Literal('PASSCODE'),
    Type.Literal('OTPPASSCODE'),
    Type.Literal('PASSKEY'),
  ],
  {
    description: 'How a token was obtained. PASSKEY (ours): a passkey or security key, in the control panel.',
  },
);
const TokenScopeSchema = Type.Literal('SETUP-MFA');
const FactorTypeSchema = Type.Union([Type.Literal('SMS'), Type.Literal('OTP')]);
const DomainLevelSchema = Type.Union([Type.Literal('OPTIONAL'), Type.Literal('REQUIRED')]);
const UserLevelSchema = Type.Union([
  Type.Literal('DEFAULT'),
  Type.Literal('OPTIONAL'),
  Type.Literal('REQUIRED'),
]);
const HexId = hexId();
const Timestamp = Type.String({ description: 'ISO 8601 with milliseconds, UTC.' });

// POST /v2.0/tokens: one credential, optionally a tenant and the SETUP-MFA scope.
const authExtras = {
  tenantId: Type.Optional(Type.String({ maxLength: 64 })),
  tenantName: Type.Optional(Type.String({ maxLength: 64 })),
  'RAX-AUTH:scope': Type.Optional(
    described(TokenScopeSchema, 'With passwordCredentials: a one-hour token for setting up MFA only.'),
  ),
};
export const AuthRequestSchema = Type.Object({
  auth: Type.Union([
    Type.Object({
      passwordCredentials: Type.Object({
        username: Type.String({ minLength: 1, maxLength: 255 }),
        password: Type.String({ minLength: 1, maxLength: 1024 }),
      }),
      ...authExtras,
    }),
    Type.Object({
      'RAX-KSKEY:apiKeyCredentials': Type.Object({
        username: Type.String({ minLength: 1, maxLength: 255 }),
        apiKey: Type.String({ minLength: 1, maxLength: 256 }),
      }),
      ...authExtras,
    }),
    Type.Object({
      'RAX-AUTH:passcodeCredentials': described(
        Type.Object({ passcode: Type.String({ minLength: 1, maxLength: 64 }) }),
        'Step 2 of an MFA login, with the X-SessionId header: a passcode from the authenticator app or the SMS, a bypass code or a temporary code.',
      ),
      ...authExtras,
    }),
    Type.Object({ token: Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) }), ...authExtras }),
  ]),
});

const RoleSchema = Type.Object({ id: Type.String(), name: Type.String(), description: Type.String() });

export const AccessSchema = Type.Object({
  access: Type.Object({
    token: Type.Object({
      id: HexId,
      expires: Timestamp,
      tenant: Type.Optional(Type.Object({ id: Type.String(), name: Type.String() })),
      'RAX-AUTH:authenticatedBy': Type.Array(AuthMethodSchema),
      'RAX-AUTH:scope': Type.Optional(TokenScopeSchema),
    }),
    user: Type.Object({
      id: HexId,
      name: Type.String(),
      roles: Type.Array(RoleSchema),
      'RAX-AUTH:defaultRegion': Type.String(),
      'RAX-AUTH:domainId': Type.Optional(Type.String()),
      'RAX-AUTH:multiFactorEnabled': Type.Boolean(),
      'RAX-AUTH:federated': Type.Boolean(),
    }),
    serviceCatalog: Type.Optional(
      described(
        Type.Array(Type.Unknown()),
        'The configured catalog (LATCHKEY_CATALOG_FILE) with {tenantId} filled in; absent on validation and on SETUP-MFA tokens.',
      ),
    ),
  }),
});

export const EndpointsSchema = Type.Object({
  endpoints: Type.Array(
    Type.Object(
      { id: Type.Integer(), name: Type.Optional(Type.Unknown()), type: Type.Optional(Type.Unknown()) },
      { additionalProperties: true, description: 'A catalog endpoint with its service name and type.' },
    ),
  ),
  endpoints_links: Type.Array(Type.Unknown()),
});

export const UserSchema = Type.Object({
  id: HexId,
  username: Type.String(),
  email: Type.Optional(Type.String()),
  enabled: Type.Boolean(),
  created: Timestamp,
  updated: Timestamp,
  'RAX-AUTH:defaultRegion': Type.String(),
  'RAX-AUTH:domainId': Type.Optional(Type.String()),
  'RAX-AUTH:multiFactorEnabled': Type.Boolean(),
  'RAX-AUTH:multiFactorState': Type.Optional(
    described(Type.Union([Type.Literal('ACTIVE'), Type.Literal('LOCKED')]), 'Only while MFA is enabled.'),
  ),
  'RAX-AUTH:factorType': Type.Optional(described(Type.String(), 'SMS or OTP; only while MFA is enabled.')),
  'RAX-AUTH:userMultiFactorEnforcementLevel': Type.Optional(Type.String()),
  'RAX-AUTH:passwordLockedUntil': Type.Optional(
    described(
      Type.Union([Timestamp, Type.Null()]),
      'latchkey extension. Only while wrong passwords lock the password login: when the lock lifts by itself, or null when only an unlock lifts it.',
    ),
  ),
  'OS-KSADM:password': Type.Optional(
    Type.String({
      description: 'Only in the answer to a creation without a password: the generated one, shown once.',
    }),
  ),
});
export const UserResponseSchema = Type.Object({ user: UserSchema });
export const UsersResponseSchema = Type.Object({ users: Type.Array(UserSchema) });
export const UserRequestSchema = Type.Object({
  user: Type.Object({
    username: Type.Optional(Type.String({ maxLength: 255 })),
    email: Type.Optional(Type.String({ maxLength: 255 })),
    enabled: Type.Optional(Type.Boolean()),
    'OS-KSADM:password': Type.Optional(
      Type.String({
        maxLength: 1024,
        description: 'At least 8 characters with an upper-case letter, a lower-case letter and a digit.',
      }),
    ),
    'RAX-AUTH:defaultRegion': Type.Optional(Type.String({ maxLength: 255 })),
    'RAX-AUTH:domainId': Type.Optional(
      Type.String({ maxLength: 64, description: 'Creation by an identity administrator only.' }),
    ),
  }),
});

const ApiKeyCredentialsSchema = Type.Object({ username: Type.String(), apiKey: Type.String() });
export const ApiKeyResponseSchema = Type.Object({ 'RAX-KSKEY:apiKeyCredentials': ApiKeyCredentialsSchema });
export const CredentialsResponseSchema = Type.Object({
  credentials: Type.Array(Type.Object({ 'RAX-KSKEY:apiKeyCredentials': ApiKeyCredentialsSchema })),
});
export const PasswordCredentialsSchema = Type.Object({
  passwordCredentials: Type.Object({
    username: Type.Optional(Type.String({ maxLength: 255 })),
    password: Type.String({ maxLength: 1024 }),
  }),
});

export const DomainResponseSchema = Type.Object({
  'RAX-AUTH:domain': Type.Object({
    id: Type.String(),
    name: Type.String(),
    enabled: Type.Boolean(),
    description: Type.String(),
    domainMultiFactorEnforcementLevel: Type.String(),
    'latchkey:passkeysOnly': Type.Boolean({
      description:
        'Latchkey extension: true when the account accepts only passkeys and security keys as the second factor (the level is then REQUIRED).',
    }),
  }),
});
export const DomainMultiFactorRequestSchema = Type.Object({
  'RAX-AUTH:multiFactorDomain': Type.Object({
    domainMultiFactorEnforcementLevel: DomainLevelSchema,
    'latchkey:passkeysOnly': Type.Optional(
      Type.Boolean({
        description:
          'Latchkey extension: with REQUIRED, true accepts only passkeys and security keys as the second factor, false any factor; absent keeps the current choice. OPTIONAL clears it.',
      }),
    ),
  }),
});
const UserRefSchema = Type.Object({ id: HexId, username: Type.String() });
export const DomainImpactResponseSchema = Type.Object({
  'RAX-AUTH:multiFactorDomainImpact': Type.Object({
    usersLoggedOut: Type.Array(UserRefSchema),
    tokensRevoked: Type.Integer(),
    usersRequiredToSetUp: Type.Array(UserRefSchema),
  }),
});

export const MultiFactorRequestSchema = Type.Object({
  'RAX-AUTH:multiFactor': Type.Object(
    {
      enabled: Type.Optional(Type.Boolean()),
      factorType: Type.Optional(
        described(FactorTypeSchema, 'Which verified factor step 2 asks for, when the user has both.'),
      ),
      unlock: Type.Optional(
        described(Type.Boolean(), 'true, by an administrator: clear the MFA lock and the password lock.'),
      ),
      userMultiFactorEnforcementLevel: Type.Optional(UserLevelSchema),
    },
    {
      description: 'One change per request: enabled, factorType, unlock or userMultiFactorEnforcementLevel.',
    },
  ),
});

const OtpDeviceSchema = Type.Object({ id: HexId, name: Type.String(), verified: Type.Boolean() });
const PhoneSchema = Type.Object({
  id: HexId,
  number: Type.String({ description: 'E.164, e.g. +15125550100.' }),
  verified: Type.Boolean(),
});
export const OtpDeviceRequestSchema = Type.Object({
  'RAX-AUTH:otpDevice': Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }),
});
export const NewOtpDeviceResponseSchema = Type.Object({
  'RAX-AUTH:otpDevice': Type.Object({
    id: HexId,
    name: Type.String(),
    verified: Type.Boolean(),
    keyUri: Type.String({ description: 'otpauth://totp/… with the secret: shown only now.' }),
    qrcode: Type.String({ description: 'data:image/png;base64,… a QR code of keyUri.' }),
  }),
});
export const OtpDeviceResponseSchema = Type.Object({ 'RAX-AUTH:otpDevice': OtpDeviceSchema });
export const OtpDevicesResponseSchema = Type.Object({ 'RAX-AUTH:otpDevices': Type.Array(OtpDeviceSchema) });
export const DevicesResponseSchema = Type.Object({
  'RAX-AUTH:multiFactorDevices': Type.Object({
    mobilePhones: Type.Array(PhoneSchema),
    otpDevices: Type.Array(OtpDeviceSchema),
  }),
});
export const VerificationCodeRequestSchema = Type.Object({
  'RAX-AUTH:verificationCode': Type.Object({
    code: Type.String({ description: 'The 6-digit code of the app, or the 4-digit PIN of the SMS.' }),
  }),
});
export const MobilePhoneRequestSchema = Type.Object({
  'RAX-AUTH:mobilePhone': Type.Object({
    number: Type.String({ description: 'With its country code, in E.164 form: +15125550100.' }),
  }),
});
export const MobilePhoneResponseSchema = Type.Object({ 'RAX-AUTH:mobilePhone': PhoneSchema });
export const MobilePhonesResponseSchema = Type.Object({ 'RAX-AUTH:mobilePhones': Type.Array(PhoneSchema) });

export const BypassCodesRequestSchema = Type.Object({
  'RAX-AUTH:bypassCodes': Type.Optional(
    Type.Object({
      numberOfCodes: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 10,
          description: 'Own codes: 1 to 10 (default 1). For another user: exactly 1.',
        }),
      ),
      validityDuration: Type.Optional(
        Type.String({
          description:
            'XSD duration, e.g. PT30M. Own codes: none means they never expire. For another user: default PT30M, at most PT180M.',
        }),
      ),
    }),
  ),
});
export const BypassCodesResponseSchema = Type.Object({
  'RAX-AUTH:bypassCodes': Type.Object({
    codes: Type.Array(Type.String({ pattern: '^[0-9]{8}$' }), {
      description: 'Shown only now; each works once.',
    }),
    validityDuration: Type.Optional(Type.String()),
  }),
});
export const TemporaryCodeResponseSchema = Type.Object({
  'RAX-AUTH:temporaryCode': Type.Object({
    sentTo: Type.String({ description: 'The masked number it went to: country code and last four digits.' }),
    expires: Timestamp,
  }),
});

export const EventSchema = Type.Object({
  id: Type.Integer(),
  time: Timestamp,
  type: Type.String({ description: 'e.g. login.succeeded, mfa.locked, domain.enforcement_changed.' }),
  actorId: Type.Union([Type.String(), Type.Null()]),
  userId: Type.Union([Type.String(), Type.Null()]),
  domainId: Type.Union([Type.String(), Type.Null()]),
  source: Type.Union([Type.String(), Type.Null()], { description: 'The client address.' }),
  detail: Type.Record(Type.String(), Type.Unknown()),
  count: Type.Integer({ description: 'Repeated failures from one source count up one event a minute.' }),
  username: Type.Union([Type.String(), Type.Null()], {
    description: 'Ours: the username of userId (null when there is none, or it was deleted).',
  }),
  actorUsername: Type.Union([Type.String(), Type.Null()], {
    description: 'Ours: the username of actorId (null when there is none, or it was deleted).',
  }),
  title: Type.String({ description: 'Ours: the event in plain language, e.g. "Logged in".' }),
  summary: Type.String({
    description: 'Ours: the detail as a sentence, e.g. "With password and authenticator app.", or empty.',
  }),
});
export const EventsResponseSchema = Type.Object({ events: Type.Array(EventSchema) });

// Compile-time agreement of the schemas above with wire.ts (both directions).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Agree<T extends true> = T;
export type SchemasAgreeWithWireTypes = [
  Agree<Same<Static<typeof AuthRequestSchema>, Wire.AuthRequest>>,
  Agree<Same<Static<typeof AccessSchema>, Wire.AccessResponse>>,
  Agree<Same<Static<typeof UserSchema>, Wire.WireUser>>,
  Agree<Same<Static<typeof UserRequestSchema>, Wire.UserRequest>>,
  Agree<Same<Static<typeof MultiFactorRequestSchema>, Wire.MultiFactorRequest>>,
  Agree<Same<Static<typeof MobilePhoneResponseSchema>, Wire.MobilePhoneResponse>>,
  Agree<Same<Static<typeof DevicesResponseSchema>, Wire.DevicesResponse>>,
  Agree<Same<Static<typeof NewOtpDeviceResponseSchema>, Wire.NewOtpDeviceResponse>>,
  Agree<Same<Static<typeof BypassCodesRequestSchema>, Wire.BypassCodesRequest>>,
  Agree<Same<Static<typeof BypassCodesResponseSchema>, Wire.BypassCodesResponse>>,
  Agree<Same<Static<typeof TemporaryCodeResponseSchema>, Wire.TemporaryCodeResponse>>,
  Agree<Same<Static<typeof DomainResponseSchema>, Wire.DomainResponse>>,
  Agree<Same<Static<typeof DomainMultiFactorRequestSchema>, Wire.DomainMultiFactorRequest>>,
  Agree<Same<Static<typeof DomainImpactResponseSchema>, Wire.DomainImpactResponse>>,
  Agree<Same<Static<typeof EventsResponseSchema>, Wire.EventsResponse>>,
];

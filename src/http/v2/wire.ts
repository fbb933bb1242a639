/**
 * The v2.0 wire format as clients see it: request and response bodies, header names and the
 * OS-MF challenge. The server renders these shapes (render.ts checks its output against them) and
 * the `latchkey` command reads them. Everything from server modules is imported as types only, so
 * a client that imports this file loads no server code.
 */
import type { TokenScope as AnyTokenScope, AuthMethod } from '../../access/tokens.js';
import type { PhoneView } from '../../factors/sms/phones.js';
import type { NewOtpDevice, OtpDeviceView } from '../../factors/totp/devices.js';
import type { DomainImpact } from '../../policy/domain-enforcement.js';
import type { DomainEnforcementLevel, FactorType, UserEnforcementLevel } from '../../policy/enforcement.js';
import type { EventView } from '../../reports/events-query.js';

export type {
  AuthMethod,
  DomainEnforcementLevel,
  DomainImpact,
  EventView,
  FactorType,
  NewOtpDevice,
  OtpDeviceView,
  PhoneView,
  UserEnforcementLevel,
};

/** The one scope the API knows (ADD-PASSKEY is the control panel's own). */
export type TokenScope = Extract<AnyTokenScope, 'SETUP-MFA'>;

export const AUTH_TOKEN_HEADER = 'X-Auth-Token';
export const SESSION_ID_HEADER = 'X-SessionId';

/**
 * Ours: on an SMS challenge, the masked number the passcode went to (`+1******0123`), so a client
 * can say where to look. Absent when no SMS was sent (OTP users).
 */
export const PASSCODE_SENT_TO_HEADER = 'X-Latchkey-Passcode-Sent-To';

/** `factor` of the OS-MF challenge: PASSCODE for SMS users, OTPPASSCODE for authenticator apps. */
export type ChallengeFactor = 'PASSCODE' | 'OTPPASSCODE';

/** The exact WWW-Authenticate value of reference §4.5. */
export function challengeHeader(sessionId: string, factor: ChallengeFactor): string {
  return `OS-MF sessionId='${sessionId}', factor='${factor}'`;
}

export function parseChallengeHeader(
  value: string | null | undefined,
): { sessionId: string; factor: ChallengeFactor } | undefined {
  const match = /^OS-MF sessionId='([^']+)', factor='(PASSCODE|OTPPASSCODE)'$/.exec(value?.trim() ?? '');
  if (!match?.[1] || !match[2]) return undefined;
  return { sessionId: match[1], factor: match[2] as ChallengeFactor };
}

/** `{"<fault>":{"code":N,"message":"..."}}`, the body of every error. */
export type FaultBody = Record<string, { code: number; message: string }>;

// POST /v2.0/tokens
export type AuthRequest = {
  auth: (
    | { passwordCredentials: { username: string; password: string } }
    | { 'RAX-KSKEY:apiKeyCredentials': { username: string; apiKey: string } }
    | { 'RAX-AUTH:passcodeCredentials': { passcode: string } }
    | { token: { id: string } }
  ) & { tenantId?: string; tenantName?: string; 'RAX-AUTH:scope'?: TokenScope };
};

export type WireRole = { id: string; name: string; description: string };

/** The `access` object of a login (with serviceCatalog) or a validation (without). */
export type AccessResponse = {
  access: {
    token: {
      id: string;
      expires: string;
      tenant?: { id: string; name: string };
      'RAX-AUTH:authenticatedBy': AuthMethod[];
      'RAX-AUTH:scope'?: TokenScope;
    };
    user: {
      id: string;
      name: string;
      roles: WireRole[];
      'RAX-AUTH:defaultRegion': string;
      'RAX-AUTH:domainId'?: string;
      'RAX-AUTH:multiFactorEnabled': boolean;
      'RAX-AUTH:federated': boolean;
    };
    serviceCatalog?: unknown[];
  };
};

/** A user (reference §6.1); MFA state and factor only while MFA is enabled. */
export type WireUser = {
  id: string;
  username: string;
  email?: string;
  enabled: boolean;
  created: string;
  updated: string;
  'RAX-AUTH:defaultRegion': string;
  'RAX-AUTH:domainId'?: string;
  'RAX-AUTH:multiFactorEnabled': boolean;
  'RAX-AUTH:multiFactorState'?: 'ACTIVE' | 'LOCKED';
  'RAX-AUTH:factorType'?: string;
  'RAX-AUTH:userMultiFactorEnforcementLevel'?: string;
  /**
   * latchkey extension, only while wrong passwords lock the user's password login: when the lock
   * lifts by itself, or null when only an unlock lifts it.
   */
  'RAX-AUTH:passwordLockedUntil'?: string | null;
  /** Only in the answer to a creation without a password: the generated one, shown once. */
  'OS-KSADM:password'?: string;
};

export type UserResponse = { user: WireUser };
export type UsersResponse = { users: WireUser[] };
export type UserRequest = {
  user: {
    username?: string;
    email?: string;
    enabled?: boolean;
    'OS-KSADM:password'?: string;
    'RAX-AUTH:defaultRegion'?: string;
    'RAX-AUTH:domainId'?: string;
  };
};

// Multi-factor settings: PUT /v2.0/users/{id}/RAX-AUTH/multi-factor
export type MultiFactorRequest = {
  'RAX-AUTH:multiFactor': {
    enabled?: boolean;
    factorType?: FactorType;
    unlock?: boolean;
    userMultiFactorEnforcementLevel?: UserEnforcementLevel;
  };
};

/** Ours: a passkey or security key (registered in the control panel). */
export type PasskeyView = {
  id: string;
  nickname: string;
  created: string;
  lastUsed: string | null;
  transports: string[];
  aaguid: string;
  backupEligible: boolean;
  backedUp: boolean;
};
export type PasskeysResponse = { 'latchkey:passkeys': PasskeyView[] };
export type PasskeyResponse = { 'latchkey:passkey': PasskeyView };

export type OtpDeviceRequest = { 'RAX-AUTH:otpDevice': { name: string } };
export type NewOtpDeviceResponse = { 'RAX-AUTH:otpDevice': NewOtpDevice };
export type VerificationCodeRequest = { 'RAX-AUTH:verificationCode': { code: string } };
export type MobilePhoneRequest = { 'RAX-AUTH:mobilePhone': { number: string } };
export type MobilePhoneResponse = { 'RAX-AUTH:mobilePhone': PhoneView };
export type DevicesResponse = {
  'RAX-AUTH:multiFactorDevices': { mobilePhones: PhoneView[]; otpDevices: OtpDeviceView[] };
};
export type BypassCodesRequest = {
  'RAX-AUTH:bypassCodes'?: { numberOfCodes?: number; validityDuration?: string };
};
export type BypassCodesResponse = { 'RAX-AUTH:bypassCodes': { codes: string[]; validityDuration?: string } };
export type TemporaryCodeResponse = { 'RAX-AUTH:temporaryCode': { sentTo: string; expires: string } };

// Account (domain) policy
export type DomainResponse = {
  'RAX-AUTH:domain': {
    id: string;
    name: string;
    enabled: boolean;
    description: string;
    domainMultiFactorEnforcementLevel: string;
    'latchkey:passkeysOnly': boolean;
  };
};
export type DomainMultiFactorRequest = {
  'RAX-AUTH:multiFactorDomain': {
    domainMultiFactorEnforcementLevel: DomainEnforcementLevel;
    'latchkey:passkeysOnly'?: boolean;
  };
};
export type DomainImpactResponse = { 'RAX-AUTH:multiFactorDomainImpact': DomainImpact };

export type EventsResponse = { events: EventView[] };

// API key: GET .../OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials and its RAX-AUTH/reset
export type ApiKeyResponse = { 'RAX-KSKEY:apiKeyCredentials': { username: string; apiKey: string } };

import type { Generated, Insertable, Kysely, Selectable, Updateable } from 'kysely';

/**
 * Times are epoch milliseconds and booleans are 0/1 integers in both dialects, so one codebase
 * reads SQLite and PostgreSQL alike (PostgreSQL int8 is parsed to number in connect.ts).
 */
export interface DomainTable {
  id: string;
  name: string;
  description: string;
  enabled: number;
  mfa_enforcement: string;
  /** 1: the account accepts only passkeys and security keys as the second factor. */
  passkeys_only: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface UserTable {
  id: string;
  username: string;
  username_key: string;
  email: string | null;
  enabled: number;
  role: string;
  domain_id: string | null;
  default_region: string;
  password_hash: string | null;
  api_key_enc: string | null;
  created_at: number;
  updated_at: number;
  mfa_enabled: number;
  factor_type: string | null;
  mfa_enforcement: string | null;
  mfa_failed_count: number;
  mfa_last_failed_at: number | null;
  password_failed_count: Generated<number>;
  password_last_failed_at: number | null;
  /** The WebAuthn user handle (base64url of 32 random bytes), set at the first passkey. */
  webauthn_handle: string | null;
}

/** A user as it may leave the domain layer: without its password hash or encrypted API key. */
export type UserView = Omit<UserRow, 'password_hash' | 'api_key_enc'>;

export function userView(row: UserRow): UserView {
  const { password_hash: _passwordHash, api_key_enc: _apiKey, ...view } = row;
  return view;
}

export interface TokenTable {
  hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  authenticated_by: string;
  scope: string | null;
  revoked_at: number | null;
  revoked_reason: string | null;
}

export interface MfaSessionTable {
  hash: string;
  user_id: string;
  factor: string;
  authenticated_by: string;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
}

export interface OtpDeviceTable {
  id: string;
  user_id: string;
  name: string;
  secret_enc: string;
  verified: number;
  last_used_step: number | null;
  created_at: number;
}

export interface MobilePhoneTable {
  id: string;
  user_id: string;
  number: string;
  verified: number;
  pin_hash: string | null;
  pin_expires_at: number | null;
  pin_failed_count: number;
  created_at: number;
}

/** Login passcodes (SMS) and admin temporary codes: one live code per user and purpose. */
export interface OneTimeCodeTable {
  user_id: string;
  purpose: string;
  code_hash: string;
  expires_at: number;
  created_at: number;
}

export interface BypassCodeTable {
  id: Generated<number>;
  user_id: string;
  code_hash: string;
  expires_at: number | null;
  used_at: number | null;
  created_at: number;
}

export interface SmsSendTable {
  id: Generated<number>;
  user_id: string;
  destination: string;
  sent_at: number;
  /** 'default' (login passcodes, verification PINs) or 'temporary' (administrators' codes). */
  budget: Generated<string>;
}

/** Failed authentications from one source address in one fixed window. */
export interface SourceFailureTable {
  source: string;
  window_start: number;
  count: number;
}

export interface SecurityEventTable {
  id: Generated<number>;
  at: number;
  type: string;
  actor_id: string | null;
  user_id: string | null;
  domain_id: string | null;
  source: string | null;
  detail: string;
  /** How many occurrences an aggregated event stands for (1 for every other event). */
  count: Generated<number>;
  /** Set on aggregated events: type, source and minute, so repeats update one row. */
  aggregate_key: string | null;
}

/** Server-wide keys (the keyed-hash key), sealed under the current LATCHKEY_SECRET_KEYS key. */
export interface ServerKeyTable {
  purpose: string;
  sealed: string;
  created_at: number;
  updated_at: number;
}

/** An earlier password of a user (LATCHKEY_PASSWORD_HISTORY); the current one is on the user. */
export interface PasswordHistoryTable {
  id: Generated<number>;
  user_id: string;
  password_hash: string;
  replaced_at: number;
}

/** A passkey or security key (WebAuthn credential); id and public key are base64url. */
export interface PasskeyTable {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: string;
  sign_count: number;
  /** Comma-separated AuthenticatorTransport values the browser reported. */
  transports: string;
  aaguid: string;
  backup_eligible: number;
  backed_up: number;
  nickname: string;
  created_at: number;
  last_used_at: number | null;
}

/** A WebAuthn ceremony in progress: its challenge's keyed hash, single use. */
export interface PasskeyChallengeTable {
  hash: string;
  user_id: string | null;
  /** 'register', 'second-factor' or 'passwordless'. */
  purpose: string;
  /** Registration: the nickname chosen before the browser's prompt. */
  nickname: string | null;
  expires_at: number;
  created_at: number;
}

export interface Database {
  domains: DomainTable;
  users: UserTable;
  tokens: TokenTable;
  mfa_sessions: MfaSessionTable;
  otp_devices: OtpDeviceTable;
  mobile_phones: MobilePhoneTable;
  one_time_codes: OneTimeCodeTable;
  bypass_codes: BypassCodeTable;
  sms_sends: SmsSendTable;
  source_failures: SourceFailureTable;
  security_events: SecurityEventTable;
  server_keys: ServerKeyTable;
  password_history: PasswordHistoryTable;
  passkeys: PasskeyTable;
  passkey_challenges: PasskeyChallengeTable;
}

export type Db = Kysely<Database>;
export type UserRow = Selectable<UserTable>;
export type NewUserRow = Insertable<UserTable>;
export type UserUpdate = Updateable<UserTable>;
export type DomainRow = Selectable<DomainTable>;
export type TokenRow = Selectable<TokenTable>;
export type OtpDeviceRow = Selectable<OtpDeviceTable>;
export type MobilePhoneRow = Selectable<MobilePhoneTable>;
export type PasskeyRow = Selectable<PasskeyTable>;

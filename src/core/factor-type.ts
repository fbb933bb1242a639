/** The kinds of multi-factor device a user can have: a phone for SMS passcodes, an authenticator app. */
export type FactorType = 'SMS' | 'OTP';

/**
 * A user's default multi-factor method: a passcode factor, or a passkey or security key
 * (WebAuthn). Stored in users.factor_type; on the wire (RAX-AUTH:factorType) only SMS and OTP.
 */
export type MultiFactorMethod = FactorType | 'PASSKEY';

/** The kinds of multi-factor device a user can have: a phone for SMS passcodes, an authenticator app. */
export type FactorType = 'SMS' | 'OTP';

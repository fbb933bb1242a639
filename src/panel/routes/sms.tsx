import type { FastifyInstance } from 'fastify';
import type { ApiError } from '../../core/errors.js';
import {
  addPhone,
  formatPhoneNumber,
  getPhone,
  internationalNumber,
  type PhoneView,
  phoneCountries,
  removePhone,
  sendVerificationPin,
  verifyPhone,
} from '../../factors/sms/phones.js';
import type { Deps } from '../../services/deps.js';
import { type Option, SelectField, TextField } from '../components.js';
import { type DeviceKind, type Refusal, registerDeviceFlow } from './device-flow.js';

/** Seed 000/001 "Invalid phone number". */
export const INVALID_NUMBER_TEXT =
  'The phone number is invalid. Check that you selected the right country code and entered a valid phone number with no extra characters or spaces.';
/** Seed 000/001 "Invalid PIN when verifying device". */
export const INVALID_PIN_TEXT =
  'The PIN is incorrect or has expired. Check that you entered the 4-digit PIN from the text message sent to your mobile phone, or choose Resend PIN.';

let countryOptions: Option[] | undefined;

/** "United States (+1)", sorted by name: the seeds' country code selector. */
function countries(): Option[] {
  if (!countryOptions) {
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    countryOptions = phoneCountries()
      .map(({ code, callingCode }) => ({ value: code, label: `${names.of(code) ?? code} (+${callingCode})` }))
      .sort((a, b) => a.label.localeCompare(b.label, 'en'));
  }
  return countryOptions;
}

/** What a refused send or add says on the page. */
export function smsErrorText(error: ApiError): string {
  if (error.reason === 'phone-invalid') return INVALID_NUMBER_TEXT;
  if (error.reason === 'country-not-allowed') return 'Text messages cannot be sent to this country.';
  if (error.reason === 'phone-is-factor')
    return 'Your phone is your default authentication method, so it cannot be replaced. Change the default method, or turn multi-factor authentication off, first.';
  return error.message;
}

/** A refused add, send or resend the form shows: the user's (4xx), or the gateway's 503. */
function smsRefusal(error: ApiError): Refusal | undefined {
  if (error.status < 400 || (error.status >= 500 && error.status !== 503)) return undefined;
  return { text: smsErrorText(error), status: error.status };
}

/** A mobile phone: registered by number, verified with a PIN sent to it by text message. */
export const SMS_DEVICE: DeviceKind<PhoneView, { country: string; number: string }> = {
  path: 'sms',
  factor: 'SMS',
  find: (deps, userId, phoneId) => getPhone(deps.db, userId, phoneId),
  start: {
    title: 'Register SMS Device',
    intro: <p>We will send a text message with a 4-digit PIN to this phone, to check that it is yours.</p>,
    submit: 'Add SMS Device',
    read: (form) => ({ country: form.text('country', 8), number: form.text('number', 64) }),
    fields: (draft, error) => (
      <div class="phone-row">
        <SelectField
          name="country"
          label="Country code"
          options={countries()}
          value={draft?.country ?? 'US'}
          autoComplete="tel-country-code"
        />
        <TextField
          name="number"
          label="Phone number"
          type="tel"
          autoComplete="tel-national"
          inputMode="tel"
          value={draft?.number}
          error={error}
          required
          maxLength={32}
        />
      </div>
    ),
    run: async (deps, session, { country, number }) => {
      const { phone } = await addPhone(deps, session, session.user, internationalNumber(country, number));
      if (phone.verified) return { next: 'home', flash: 'This phone is already registered and verified.' };
      await sendVerificationPin(deps, session.user, phone.id);
      return {
        next: 'verify',
        deviceId: phone.id,
        flash: `A text message with a 4-digit PIN was sent to ${formatPhoneNumber(phone.number)}.`,
      };
    },
    refusal: smsRefusal,
  },
  verify: {
    title: 'Verify SMS Device',
    heading: 'Verify SMS Device',
    intro: async (_deps, _userId, phone) => (
      <p>
        Enter the 4-digit PIN from the text message sent to <strong>{formatPhoneNumber(phone.number)}</strong>
        . It is valid for 10 minutes.
      </p>
    ),
    field: { name: 'pin', label: 'PIN', maxLength: 8, postedMax: 16 },
    submit: () => 'Verify SMS Device',
    defaultHint: 'You will be logged out, to log in again with a passcode sent to this phone.',
    emptyText: 'Enter the PIN from the text message.',
    run: (deps, session, phone, pin) => verifyPhone(deps, session, session.user, phone.id, pin),
    resend: {
      run: (deps, session, phone) => sendVerificationPin(deps, session.user, phone.id),
      refusal: smsRefusal,
      sentText: (phone) => `A new PIN was sent to ${formatPhoneNumber(phone.number)}.`,
    },
  },
  manage: {
    title: () => 'SMS device',
    heading: 'SMS device',
    label: (phone) => ({ term: 'Phone number', value: formatPhoneNumber(phone.number) }),
    note: <p class="hint">To change the number, delete this device and register the new number.</p>,
  },
  remove: (deps, session, phone) => removePhone(deps, session, session.user, phone.id),
  refusalTexts: {
    'wrong-pin': INVALID_PIN_TEXT,
    'phone-is-factor':
      'Your phone is your default authentication method, so it cannot be deleted. Change the default method, or turn multi-factor authentication off, first.',
  },
  describe: (phone) => `phone ${formatPhoneNumber(phone.number)}`,
};

export function registerSmsRoutes(app: FastifyInstance, deps: Deps): void {
  registerDeviceFlow(app, deps, SMS_DEVICE);
}

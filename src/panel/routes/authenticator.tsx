import type { FastifyInstance } from 'fastify';
import type { Reason } from '../../core/errors.js';
import {
  addOtpDevice,
  deleteOtpDevice,
  getOtpDevice,
  type OtpDeviceView,
  otpEnrolment,
  verifyOtpDevice,
} from '../../factors/totp/devices.js';
import type { Deps } from '../../services/deps.js';
import { SecretToCopy, TextField } from '../components.js';
import { type DeviceKind, registerDeviceFlow } from './device-flow.js';

/** The base32 secret as people copy it: groups of four. */
export function inGroupsOfFour(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

const NAME_ERRORS: Partial<Record<Reason, string>> = {
  'device-name-missing': 'Enter a nickname for the device.',
  'device-name-too-long': 'The nickname is too long: use at most 255 characters.',
  'device-name-invalid': 'The nickname may not contain control characters.',
};

/** The QR code and secret key of an unverified authenticator, with the steps to pair it. */
async function pairingIntro(deps: Deps, userId: string, device: OtpDeviceView) {
  const enrolment = await otpEnrolment(deps, userId, device.id);
  return (
    <>
      <ol class="steps">
        <li>In your authenticator app, choose to add an account and scan this QR code.</li>
        <li>Enter the 6-digit passcode the app then shows, and verify it.</li>
      </ol>
      <div class="qr">
        <img
          src={enrolment.qrcode}
          id="qr-code"
          width={220}
          height={220}
          alt={`QR code that adds the device “${enrolment.name}” to your authenticator app`}
        />
        <div>
          <p>
            Device: <strong class="device-name">{enrolment.name}</strong>
          </p>
          <p>Cannot scan? Type this secret key into the app instead:</p>
          <SecretToCopy
            id="secret-key"
            secret={enrolment.secret}
            shown={inGroupsOfFour(enrolment.secret)}
            copyLabel="Copy Secret Key"
          />
        </div>
      </div>
    </>
  );
}

/** An authenticator app: named by the user, verified with a passcode it shows. */
export const AUTHENTICATOR: DeviceKind<OtpDeviceView, string> = {
  path: 'authenticator',
  factor: 'OTP',
  find: (deps, userId, deviceId) => getOtpDevice(deps.db, userId, deviceId),
  start: {
    title: 'Use an Authenticator',
    intro: (
      <p>
        Install an authenticator app on your phone or computer, such as Google Authenticator, Microsoft
        Authenticator or Authy. Then give this device a name you will recognise.
      </p>
    ),
    submit: 'Add Device',
    read: (form) => form.text('name', 1024).trim(),
    fields: (name, error) => (
      <TextField
        name="name"
        label="Device nickname"
        hint="For example: Work phone"
        value={name}
        error={error}
        required
        maxLength={255}
      />
    ),
    run: async (deps, session, name) => {
      const device = await addOtpDevice(deps, session, session.user, name);
      return { next: 'verify', deviceId: device.id };
    },
    refusal: (error) =>
      error.status === 400
        ? { text: (error.reason && NAME_ERRORS[error.reason]) ?? error.message, status: 400 }
        : undefined,
  },
  verify: {
    title: 'Pair your authenticator',
    heading: 'Pair your authenticator',
    intro: pairingIntro,
    field: { name: 'code', label: 'Passcode from the app', maxLength: 16, postedMax: 64 },
    submit: (area) => (area.access === 'setup' ? 'Verify Code' : 'Verify Authenticator App'),
    defaultHint: 'You will be logged out, to log in again with a passcode from this device.',
    emptyText: 'Enter the passcode the app shows.',
    run: (deps, session, device, code) => verifyOtpDevice(deps, session, session.user, device.id, code),
  },
  manage: {
    title: () => 'Authenticator app',
    heading: 'Authenticator app',
    label: (device) => ({ term: 'Device nickname', value: device.name, class: 'device-name' }),
  },
  remove: (deps, session, device) => deleteOtpDevice(deps, session, session.user, device.id),
  refusalTexts: {
    'wrong-device-code': 'The passcode is incorrect or has expired. Enter the passcode the app shows now.',
    'last-verified-device':
      'This is your only verified authenticator and your default method. Add another device or change the default method first.',
  },
  describe: (device) => `authenticator “${device.name}”`,
};

export function registerAuthenticatorRoutes(app: FastifyInstance, deps: Deps): void {
  registerDeviceFlow(app, deps, AUTHENTICATOR);
}

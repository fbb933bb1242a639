import { Argument, type Command } from 'commander';
import type {
  BypassCodesResponse,
  DevicesResponse,
  MobilePhoneResponse,
  MultiFactorRequest,
  NewOtpDeviceResponse,
  PhoneView,
  UserResponse,
} from '../../http/v2/wire.js';
import { authorized } from '../client.js';
import { CliError, ExitCode } from '../failure.js';
import { colourOn, fields, jsonMode, out, table } from '../output.js';
import { askText, canPrompt } from '../prompts.js';
import { loginCommand, removeSession, requireSession, type Session } from '../session.js';
import { example, type GlobalOptions, globals, integerIn, multiFactorPath } from './common.js';

const base = (session: Session) => multiFactorPath(session.userId);

async function setMultiFactor(session: Session, change: MultiFactorRequest, what: string): Promise<void> {
  await authorized(session, 'PUT', base(session), what, { body: change });
}

async function status(options: GlobalOptions): Promise<void> {
  const session = requireSession(options.url);
  const devices = (
    await authorized<DevicesResponse>(session, 'GET', `${base(session)}/devices`, 'MFA status')
  ).body['RAX-AUTH:multiFactorDevices'];
  // A SETUP-MFA token reads only multi-factor resources, not the user.
  const user =
    session.scope === null
      ? (await authorized<UserResponse>(session, 'GET', `/v2.0/users/${session.userId}`, 'MFA status')).body
          .user
      : undefined;
  if (options.json) {
    return out.json({
      enabled: user?.['RAX-AUTH:multiFactorEnabled'] ?? false,
      state: user?.['RAX-AUTH:multiFactorState'] ?? null,
      factorType: user?.['RAX-AUTH:factorType'] ?? null,
      enforcementLevel: user?.['RAX-AUTH:userMultiFactorEnforcementLevel'] ?? null,
      ...devices,
    });
  }
  const enabled = user?.['RAX-AUTH:multiFactorEnabled'] === true;
  const factor = user?.['RAX-AUTH:factorType'] === 'OTP' ? 'authenticator app' : 'SMS';
  const pairs: [string, string][] = [
    [
      'MFA',
      enabled
        ? `on, by ${factor}${user?.['RAX-AUTH:multiFactorState'] === 'LOCKED' ? ' (LOCKED)' : ''}`
        : 'off',
    ],
  ];
  const level = user?.['RAX-AUTH:userMultiFactorEnforcementLevel'];
  if (level) pairs.push(['policy', `user level ${level}`]);
  for (const phone of devices.mobilePhones) {
    pairs.push(['phone', `${phone.number} (${phone.verified ? 'verified' : 'not verified'})`]);
  }
  for (const device of devices.otpDevices) {
    pairs.push(['authenticator', `${device.name} (${device.verified ? 'verified' : 'not verified'})`]);
  }
  if (devices.mobilePhones.length + devices.otpDevices.length === 0) pairs.push(['devices', 'none']);
  fields(pairs);
  if (!enabled && [...devices.mobilePhones, ...devices.otpDevices].some((device) => device.verified)) {
    out.note("A verified device is ready: turn MFA on with 'latchkey mfa enable'.");
  }
}

async function verifyAuthenticator(
  session: Session,
  deviceId: string,
  code: string,
  name: string,
): Promise<void> {
  await authorized(
    session,
    'POST',
    `${base(session)}/otp-devices/${deviceId}/verify`,
    'could not verify the authenticator',
    {
      body: { 'RAX-AUTH:verificationCode': { code: code.trim() } },
    },
  );
  if (jsonMode()) out.json({ verified: deviceId });
  out.success(`Authenticator '${name}' verified.`);
  out.note("Turn MFA on with 'latchkey mfa enable' if it is not on yet.");
}

async function addAuthenticator(name: string, options: GlobalOptions & { code?: string }): Promise<void> {
  const session = requireSession(options.url);
  const device = (
    await authorized<NewOtpDeviceResponse>(
      session,
      'POST',
      `${base(session)}/otp-devices`,
      'could not add the authenticator',
      {
        body: { 'RAX-AUTH:otpDevice': { name } },
      },
    )
  ).body['RAX-AUTH:otpDevice'];
  const secret = new URL(device.keyUri).searchParams.get('secret') ?? '';
  if (options.json) {
    out.json({ id: device.id, name: device.name, keyUri: device.keyUri, secret, verified: device.verified });
    if (options.code) await verifyAuthenticator(session, device.id, options.code, device.name);
    return;
  }
  const qrcode = await import('qrcode');
  // Colour blocks draw a scannable code on any terminal background; plain blocks without colour.
  const drawn = await qrcode.toString(device.keyUri, {
    type: colourOn(process.stdout) ? 'terminal' : 'utf8',
    small: true,
    errorCorrectionLevel: 'M',
  });
  out.line(drawn);
  out.line('Scan the QR code with your authenticator app, or type in the secret key:');
  out.line(`  ${out.bold(secret)}`);
  out.line(`Device id ${device.id}. The secret is shown only now.`);
  const code =
    options.code ??
    (canPrompt() ? await askText('Code shown by the app:', 'the code', 'use --code') : undefined);
  if (code === undefined) {
    out.note(`Not verified yet: run 'latchkey mfa verify-authenticator ${device.id} CODE'.`);
    return;
  }
  try {
    await verifyAuthenticator(session, device.id, code, device.name);
  } catch (error) {
    if (error instanceof CliError) {
      throw new CliError(
        `${error.message} (try again with 'latchkey mfa verify-authenticator ${device.id}')`,
        error.exitCode,
      );
    }
    throw error;
  }
}

async function onlyPhone(session: Session): Promise<PhoneView> {
  const devices = (
    await authorized<DevicesResponse>(session, 'GET', `${base(session)}/devices`, 'could not list devices')
  ).body['RAX-AUTH:multiFactorDevices'];
  const phone = devices.mobilePhones[0];
  if (!phone) throw new CliError("no phone: add one with 'latchkey mfa add-phone NUMBER'", ExitCode.refused);
  return phone;
}

async function sendPin(session: Session, phone: PhoneView): Promise<void> {
  await authorized(
    session,
    'POST',
    `${base(session)}/mobile-phones/${phone.id}/verificationcode`,
    'could not send the PIN',
  );
  out.line(`A 4-digit PIN is on its way to ${phone.number}; it is valid for 10 minutes.`);
}

/** Verifies with the PIN given or asked for; false when there is neither (no terminal). */
async function verifyPhone(session: Session, phone: PhoneView, pin: string | undefined): Promise<boolean> {
  const code =
    pin ?? (canPrompt() ? await askText(`PIN sent to ${phone.number}:`, 'the PIN', 'use --pin') : undefined);
  if (code === undefined) {
    out.note("Not verified yet: run 'latchkey mfa verify-phone PIN'.");
    return false;
  }
  await authorized(
    session,
    'POST',
    `${base(session)}/mobile-phones/${phone.id}/verify`,
    'could not verify the phone',
    {
      body: { 'RAX-AUTH:verificationCode': { code: code.trim() } },
    },
  );
  out.success(`Phone ${phone.number} verified.`);
  out.note("Turn MFA on with 'latchkey mfa enable' if it is not on yet.");
  return true;
}

async function addPhone(number: string, options: GlobalOptions & { pin?: string }): Promise<void> {
  const session = requireSession(options.url);
  const phone = (
    await authorized<MobilePhoneResponse>(
      session,
      'POST',
      `${base(session)}/mobile-phones`,
      'could not add the phone',
      {
        body: { 'RAX-AUTH:mobilePhone': { number } },
      },
    )
  ).body['RAX-AUTH:mobilePhone'];
  out.line(`Phone ${phone.number} added (id ${phone.id}).`);
  await sendPin(session, phone);
  const verified = await verifyPhone(session, phone, options.pin);
  if (options.json) out.json({ ...phone, verified });
}

async function enable(options: GlobalOptions): Promise<void> {
  const session = requireSession(options.url);
  await setMultiFactor(session, { 'RAX-AUTH:multiFactor': { enabled: true } }, 'could not enable MFA');
  out.success('MFA is on: logging in now asks for a passcode.');
  // The server revokes password-only and SETUP-MFA tokens at this moment.
  const passwordOnly = session.authenticatedBy.length === 1 && session.authenticatedBy[0] === 'PASSWORD';
  const revoked = passwordOnly || session.scope !== null;
  if (options.json) out.json({ enabled: true, tokenRevoked: revoked });
  if (revoked) {
    removeSession();
    out.note(`Your password-only token was revoked with it: run '${loginCommand()}' again.`);
  }
}

async function disable(options: GlobalOptions): Promise<void> {
  const session = requireSession(options.url);
  await setMultiFactor(session, { 'RAX-AUTH:multiFactor': { enabled: false } }, 'could not disable MFA');
  if (options.json) out.json({ enabled: false });
  out.success('MFA is off: a password alone logs you in (your devices are kept).');
}

async function setDefault(kind: string, options: GlobalOptions): Promise<void> {
  const session = requireSession(options.url);
  const factorType = kind === 'sms' ? 'SMS' : 'OTP';
  await setMultiFactor(session, { 'RAX-AUTH:multiFactor': { factorType } }, 'could not change the default');
  if (options.json) out.json({ factorType });
  out.success(
    `Logins now ask for ${kind === 'sms' ? 'an SMS passcode' : 'a code from your authenticator app'}.`,
  );
}

async function devices(options: GlobalOptions): Promise<void> {
  const session = requireSession(options.url);
  const found = (
    await authorized<DevicesResponse>(session, 'GET', `${base(session)}/devices`, 'could not list devices')
  ).body['RAX-AUTH:multiFactorDevices'];
  if (options.json) return out.json(found);
  const rows = [
    ...found.mobilePhones.map((phone) => [phone.id, 'sms', phone.number, phone.verified ? 'yes' : 'no']),
    ...found.otpDevices.map((device) => [
      device.id,
      'authenticator',
      device.name,
      device.verified ? 'yes' : 'no',
    ]),
  ];
  if (rows.length === 0) return out.line('No devices.');
  table(['ID', 'TYPE', 'NAME', 'VERIFIED'], rows);
}

async function remove(id: string, options: GlobalOptions): Promise<void> {
  const session = requireSession(options.url);
  const found = (
    await authorized<DevicesResponse>(session, 'GET', `${base(session)}/devices`, 'could not list devices')
  ).body['RAX-AUTH:multiFactorDevices'];
  const phone = found.mobilePhones.find((candidate) => candidate.id === id);
  const device = found.otpDevices.find((candidate) => candidate.id === id);
  if (!phone && !device) {
    throw new CliError(`no device with id ${id} (see 'latchkey mfa devices')`, ExitCode.refused);
  }
  const path = phone ? `${base(session)}/mobile-phones/${id}` : `${base(session)}/otp-devices/${id}`;
  await authorized(session, 'DELETE', path, 'could not remove the device');
  if (options.json) out.json({ removed: id });
  out.success(`Removed ${phone ? `phone ${phone.number}` : `authenticator '${device?.name}'`}.`);
}

async function bypassCodes(options: GlobalOptions & { number: number }): Promise<void> {
  const session = requireSession(options.url);
  const batch = (
    await authorized<BypassCodesResponse>(
      session,
      'POST',
      `${base(session)}/bypass-codes`,
      'could not make bypass codes',
      {
        body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: options.number } },
      },
    )
  ).body['RAX-AUTH:bypassCodes'];
  if (options.json) return out.json(batch);
  for (const code of batch.codes) out.result(code);
  out.note(
    `Each code logs you in once in place of a passcode${batch.validityDuration ? ` (valid ${batch.validityDuration})` : ''}. Keep them safe; a new batch replaces these.`,
  );
}

export function registerMfaCommands(program: Command): void {
  const mfa = example(
    program.command('mfa').description('your own multi-factor authentication: devices, on/off, bypass codes'),
    'latchkey mfa status',
  );
  const action =
    <A extends unknown[] = []>(
      run: (...args: [...A, GlobalOptions & Record<string, unknown>]) => Promise<void>,
    ) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const positional = args.slice(0, -2) as A;
      await run(...positional, globals(command));
    };

  example(
    mfa
      .command('status')
      .description('whether MFA is on, by which factor, and your devices')
      .action(action(status)),
    'latchkey mfa status',
  );
  example(
    mfa
      .command('add-authenticator')
      .description('add an authenticator app: draws the QR code, prints the secret, then asks for a code')
      .argument('<name>', 'a name for the device, e.g. "work phone"')
      .option('--code <code>', 'the current code from the app (instead of being asked)')
      .action(
        action<[string]>((name, options) =>
          addAuthenticator(name, options as GlobalOptions & { code?: string }),
        ),
      ),
    'latchkey mfa add-authenticator "work phone"',
  );
  example(
    mfa
      .command('verify-authenticator')
      .description('verify an authenticator added earlier, with a code from the app')
      .argument('<id>', 'device id (see latchkey mfa devices)')
      .argument('[code]', 'the current code (asked for if left out)')
      .action(
        action<[string, string | undefined]>(async (id, code, options) => {
          const session = requireSession(options.url);
          const given =
            code ?? (await askText('Code shown by the app:', 'the code', 'give it as an argument'));
          await verifyAuthenticator(session, id, given, id);
        }),
      ),
    'latchkey mfa verify-authenticator 3f2a9c0d4b5e6f708192a3b4c5d6e7f8 123456',
  );
  example(
    mfa
      .command('add-phone')
      .description('add a phone for SMS passcodes, send it a PIN and ask for it')
      .argument('<number>', 'the number in international form, e.g. +12015550123')
      .option('--pin <pin>', 'the PIN, when it is already known')
      .action(
        action<[string]>((number, options) => addPhone(number, options as GlobalOptions & { pin?: string })),
      ),
    'latchkey mfa add-phone +12015550123',
  );
  example(
    mfa
      .command('verify-phone')
      .description('verify your phone with the 4-digit PIN sent to it')
      .argument('[pin]', 'the PIN (asked for if left out)')
      .action(
        action<[string | undefined]>(async (pin, options) => {
          const session = requireSession(options.url);
          const phone = await onlyPhone(session);
          const verified = await verifyPhone(session, phone, pin);
          if (options.json) out.json({ ...phone, verified });
        }),
      ),
    'latchkey mfa verify-phone 4821',
  );
  example(
    mfa
      .command('resend-pin')
      .description('send a new verification PIN to your phone')
      .action(
        action<[]>(async (options) => {
          const session = requireSession(options.url);
          await sendPin(session, await onlyPhone(session));
        }),
      ),
    'latchkey mfa resend-pin',
  );
  example(
    mfa
      .command('enable')
      .description('turn MFA on (needs a verified device; password-only tokens are revoked)')
      .action(action(enable)),
    'latchkey mfa enable',
  );
  example(
    mfa.command('disable').description('turn MFA off, keeping the devices').action(action(disable)),
    'latchkey mfa disable',
  );
  example(
    mfa
      .command('default')
      .description('choose what logins ask for when you have both a phone and an authenticator')
      .addArgument(new Argument('<factor>', 'sms or authenticator').choices(['sms', 'authenticator']))
      .action(action<[string]>(setDefault)),
    'latchkey mfa default authenticator',
  );
  example(
    mfa.command('devices').description('list your phones and authenticators').action(action(devices)),
    'latchkey mfa devices',
  );
  example(
    mfa
      .command('remove')
      .description('remove a phone or an authenticator')
      .argument('<id>', 'device id (see latchkey mfa devices)')
      .action(action<[string]>(remove)),
    'latchkey mfa remove 3f2a9c0d4b5e6f708192a3b4c5d6e7f8',
  );
  example(
    mfa
      .command('bypass-codes')
      .description('make one-time codes for when your device is not at hand (replaces the previous batch)')
      .option('-n, --number <n>', 'how many codes, 1 to 10', integerIn(1, 10, '--number'), 1)
      .action(action<[]>((options) => bypassCodes(options as unknown as GlobalOptions & { number: number }))),
    'latchkey mfa bypass-codes -n 5',
  );
}

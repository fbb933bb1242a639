import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { AuthorizationMessages } from '../src/access/caller.js';
import { Messages } from '../src/core/errors.js';
import { BypassMessages } from '../src/factors/bypass-codes/generate.js';
import { PasskeyMessages } from '../src/factors/passkeys/passkeys.js';
import { SettingsMessages } from '../src/factors/settings.js';
import { PhoneMessages } from '../src/factors/sms/phones.js';
import { TemporaryCodeMessages } from '../src/factors/temporary-code.js';
import { OtpMessages } from '../src/factors/totp/devices.js';
import { V3Messages } from '../src/http/v3/auth-request.js';

/**
 * Every fixed message a client may meet, of every family, is in docs/api.md word for word, so
 * a client author can look up any answer. A message made from values (a function here) is
 * checked by its fixed parts.
 */
const families = {
  Messages,
  AuthorizationMessages,
  BypassMessages,
  OtpMessages,
  PasskeyMessages,
  PhoneMessages,
  SettingsMessages,
  TemporaryCodeMessages,
  V3Messages,
};

/** The fixed text around a message's values: what a call with placeholder values keeps. */
function fixedParts(message: unknown): string[] {
  if (typeof message === 'string') return [message];
  if (typeof message === 'function') {
    const marker = '\u0000';
    const text = String((message as (...values: string[]) => unknown)(marker, marker, marker));
    return text.split(marker).filter((part) => part.trim().length >= 8);
  }
  return [];
}

test('docs/api.md gives every message of every family', () => {
  const guide = fs.readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
  const missing: string[] = [];
  for (const [family, messages] of Object.entries(families)) {
    let checked = 0;
    for (const [name, message] of Object.entries(messages)) {
      for (const part of fixedParts(message)) {
        checked += 1;
        if (!guide.includes(part)) missing.push(`${family}.${name}: ${part}`);
      }
    }
    assert.ok(checked > 0, `${family} has messages to check`);
  }
  assert.deepEqual(missing, [], 'messages docs/api.md does not give');
});

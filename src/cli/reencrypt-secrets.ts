#!/usr/bin/env node
/**
 * Step 3 of a key rotation (docs/deployment.md, "Rotating keys"): re-encrypt every secret
 * under the first key of LATCHKEY_SECRET_KEYS, with the same environment the server runs with.
 * Exits 0 when nothing is left under another key (the old key may then leave the ring), 1 when
 * something is, 2 on a configuration error.
 */
import { ConfigError, loadConfig } from '../config/config.js';
import { reencryptSecrets } from '../key-rotation.js';
import { createDeps, StartupError } from '../main.js';

async function run(): Promise<number> {
  const deps = await createDeps(loadConfig());
  try {
    const report = await reencryptSecrets(deps);
    const { apiKeys, otpSecrets, serverKeys } = report.reencrypted;
    process.stdout.write(
      `re-encrypted under key '${report.currentKeyId}': ${apiKeys} API keys, ${otpSecrets} TOTP secrets, ${serverKeys} server keys\n`,
    );
    const left = Object.entries(report.remaining);
    if (left.length === 0) {
      process.stdout.write(
        `nothing is left under another key: only key '${report.currentKeyId}' is needed\n`,
      );
      return 0;
    }
    const listing = left.map(([keyId, count]) => `${count} under key '${keyId}'`).join(', ');
    process.stdout.write(
      `still under other keys: ${listing}; is every instance running with key '${report.currentKeyId}' first? Run this again once it is.\n`,
    );
    return 1;
  } finally {
    await deps.store.close();
  }
}

run().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`latchkey: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof StartupError) {
      process.stderr.write(`latchkey: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  },
);

import argon2 from 'argon2';
import { randomHex } from '../crypto/random.js';

export interface PasswordHasherOptions {
  memoryKib: number;
  iterations: number;
}

/**
 * argon2id (OWASP: m=19 MiB, t=2, p=1). The library hashes on libuv's thread pool, off the
 * event loop. `verifyOrDummy` spends the same work when the user does not exist, so a login
 * for an unknown user takes about as long as a wrong password.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly options: PasswordHasherOptions) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, {
      type: argon2.argon2id,
      memoryCost: this.options.memoryKib,
      timeCost: this.options.iterations,
      parallelism: 1,
    });
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  async verifyOrDummy(hash: string | null | undefined, password: string): Promise<boolean> {
    if (hash) return this.verify(hash, password);
    this.dummyHash ??= this.hash(randomHex());
    await this.verify(await this.dummyHash, password);
    return false;
  }
}

/** Reference §6.2: at least 8 characters with an upper-case letter, a lower-case letter and a digit. */
export const PASSWORD_POLICY_MESSAGE =
  'Password must be at least 8 characters in length, must contain at least one uppercase letter, one lowercase letter, and one numeric character.';

export function meetsPasswordPolicy(password: string): boolean {
  return password.length >= 8 && /[A-Z]/.test(password) && /[a-z]/.test(password) && /\d/.test(password);
}

/** A password that meets the policy, for users created without one. */
export function generatePassword(): string {
  return `Lk${randomHex(10)}9`;
}

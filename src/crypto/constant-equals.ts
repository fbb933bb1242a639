import { timingSafeEqual } from 'node:crypto';

/**
 * The one comparison for secrets. Both sides are padded to the same length before
 * timingSafeEqual so neither the content nor the length of the expected value leaks
 * through timing; the length check comes after the constant-time work.
 */
export function constantEquals(actual: string, expected: string): boolean {
  const a = Buffer.from(actual, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  const length = Math.max(a.length, b.length, 1);
  const left = Buffer.alloc(length);
  const right = Buffer.alloc(length);
  a.copy(left);
  b.copy(right);
  return timingSafeEqual(left, right) && a.length === b.length;
}

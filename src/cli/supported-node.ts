/**
 * Whether latchkey runs on this Node.js version, by major line: the lines package.json's engines
 * admit (22 until its end of life, 24 LTS, 26 and later). 20 is past its end of life and odd
 * lines are short-lived. The CLI checks it before any command runs, because the embedded
 * database's native module crashes the process on an older runtime instead of failing cleanly.
 */
export function supportedNode(version: string): boolean {
  const major = Number(version.split('.')[0]);
  return major >= 22 && !(major < 26 && major % 2 === 1);
}

import fs from 'node:fs';
import path from 'node:path';

/** latchkey's version from its package.json, found upward from here (src/ and dist/src/ alike). */
export function packageVersion(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'latchkey') return manifest.version ?? 'unknown';
    } catch {
      // not here: look one level up
    }
  }
  return 'unknown';
}

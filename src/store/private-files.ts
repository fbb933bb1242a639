import fs from 'node:fs';
import path from 'node:path';
import { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE } from './data-dir-lock.js';

/** Files of the data directory that hold secrets or personal data (key ring, users, phone numbers). */
export const PRIVATE_DATA_FILES = [
  'latchkey.db',
  'latchkey.db-wal',
  'latchkey.db-shm',
  'latchkey.db-journal',
  'secret-keys',
  'sms-outbox.jsonl',
  'latchkey.lock',
  'latchkey.pid',
];

export interface ModeChange {
  path: string;
  /** Octal, as ls and chmod write it: '755' -> '700'. */
  from: string;
  to: string;
}

export interface TightenResult {
  changed: ModeChange[];
  /** Paths whose mode could not be changed (another owner, a read-only file system). */
  failed: { path: string; reason: string }[];
}

const octal = (mode: number) => (mode & 0o777).toString(8);

/**
 * At start: the data directory 0700 and its private files 0600, whatever an older version, a
 * restored backup or a hand-made file left them at. Only known files are touched (the data
 * directory may be shared with other things); `extraFiles` are private files kept elsewhere (an
 * SQLite database or an SMS outbox configured outside the data directory). Missing ones are fine.
 */
export function tightenPrivateFiles(dataDir: string, extraFiles: string[] = []): TightenResult {
  const result: TightenResult = { changed: [], failed: [] };
  const tighten = (target: string, mode: number, directory: boolean) => {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(target);
    } catch (error) {
      // Missing, or under a path that cannot hold it: opening the store names the problem.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw error;
    }
    if (stat.isDirectory() !== directory || (stat.mode & 0o077) === 0) return;
    try {
      fs.chmodSync(target, mode);
      result.changed.push({ path: target, from: octal(stat.mode), to: octal(mode) });
    } catch (error) {
      result.failed.push({ path: target, reason: (error as Error).message });
    }
  };
  const directory = path.resolve(dataDir);
  tighten(directory, PRIVATE_DIRECTORY_MODE, true);
  const files = new Set([
    ...PRIVATE_DATA_FILES.map((name) => path.join(directory, name)),
    ...extraFiles.map((file) => path.resolve(file)),
  ]);
  for (const file of files) tighten(file, PRIVATE_FILE_MODE, false);
  return result;
}

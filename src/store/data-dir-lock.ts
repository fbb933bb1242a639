import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';

/**
 * The embedded SQLite store belongs to one server process: a second one on the same files would
 * keep its own view of them (a token revoked through one would still pass the other). The lock is
 * SQLite's own exclusive lock on a file in the data directory, held for the life of the process:
 * a lock of the operating system, so it goes with the process however that ends, and a pid left in
 * a file by a crashed process never blocks a restart. The pid file only names the holder.
 */
export class DataDirectoryInUse extends Error {
  constructor(
    readonly directory: string,
    readonly pid: number | undefined,
  ) {
    super(
      `another latchkey process${pid === undefined ? '' : ` (pid ${pid})`} is serving the embedded database in ${directory}. ` +
        'The embedded SQLite store serves one process; to run several instances, use PostgreSQL (LATCHKEY_DATABASE_URL=postgres://...).',
    );
    this.name = 'DataDirectoryInUse';
  }
}

export interface DataDirectoryLock {
  release(): void;
}

/** Files of the data directory are created readable by their owner only, in a directory likewise. */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIRECTORY_MODE = 0o700;

export function lockDataDirectory(directory: string): DataDirectoryLock {
  fs.mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  const lockFile = path.join(directory, 'latchkey.lock');
  const pidFile = path.join(directory, 'latchkey.pid');
  fs.closeSync(fs.openSync(lockFile, 'a', PRIVATE_FILE_MODE));
  const database = new SqliteDatabase(lockFile, { timeout: 0 });
  try {
    // In EXCLUSIVE locking mode SQLite keeps the lock its first write takes until the connection
    // closes; a second process gets SQLITE_BUSY at once (timeout 0).
    database.pragma('locking_mode = EXCLUSIVE');
    database.exec('create table if not exists holder (pid integer not null); delete from holder;');
    database.prepare('insert into holder (pid) values (?)').run(process.pid);
  } catch (error) {
    database.close();
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new DataDirectoryInUse(directory, readPid(pidFile));
    }
    throw error;
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: PRIVATE_FILE_MODE });
  return {
    release() {
      if (readPid(pidFile) === process.pid) fs.rmSync(pidFile, { force: true });
      database.close();
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Before SQLite opens the database: its directory 0700 when created here, the file 0600 (SQLite
 * gives its WAL and shared-memory files the database file's mode), and files an older version
 * left readable by others made private.
 */
export function prepareSqliteFiles(file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
  for (const existing of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(existing).mode & 0o077) !== 0) fs.chmodSync(existing, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

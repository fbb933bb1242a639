/**
 * Start-up failures an operator fixes outside latchkey (a port taken, a database missing or
 * unreachable), each told in one line that says what to do. The CLI prints it without a stack
 * and exits 1.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string') return code;
  // Connecting to "localhost" tries each of its addresses: node reports an AggregateError.
  const { errors } = error as { errors?: unknown };
  return Array.isArray(errors) ? errorCode(errors[0]) : undefined;
}

/** Where the database is, without the password the URL may carry. */
function describeDatabase(databaseUrl: string): { where: string; database: string; user: string } {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = databaseUrl.slice('sqlite:'.length);
    return { where: file, database: file, user: '' };
  }
  try {
    const url = new URL(databaseUrl);
    const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
    return {
      where: `${url.hostname || 'localhost'}:${url.port || '5432'}`,
      database,
      user: decodeURIComponent(url.username),
    };
  } catch {
    return { where: 'the configured address', database: '', user: '' };
  }
}

const SQLITE_OPEN_FAILURES = new Set([
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
  'SQLITE_NOTADB',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EEXIST',
]);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The database errors an operator can act on, as one line; anything else stays as it was. */
export function databaseStartupError(error: unknown, databaseUrl: string): unknown {
  const { where, database, user } = describeDatabase(databaseUrl);
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : '';
  if (databaseUrl.startsWith('sqlite:')) {
    if (code !== undefined && SQLITE_OPEN_FAILURES.has(code))
      return new StartupError(
        `cannot open the SQLite database ${where} (${code}): check LATCHKEY_DATA_DIR or LATCHKEY_DATABASE_URL and the directory's permissions`,
        { cause: error },
      );
    return error;
  }
  if ((code !== undefined && UNREACHABLE.has(code)) || /timeout.*connect|connection timeout/i.test(message))
    return new StartupError(
      `cannot reach PostgreSQL at ${where} (${code ?? 'timed out'}): is it running, and is LATCHKEY_DATABASE_URL right?`,
      { cause: error },
    );
  // SQLSTATE 3D000 invalid_catalog_name; 28P01/28000 authentication failures.
  if (code === '3D000')
    return new StartupError(
      `PostgreSQL database "${database}" does not exist at ${where}: create it (createdb ${database}) or fix LATCHKEY_DATABASE_URL`,
      { cause: error },
    );
  if (code === '28P01' || code === '28000')
    return new StartupError(
      `PostgreSQL at ${where} refused the login of user "${user}": check the user and password in LATCHKEY_DATABASE_URL`,
      { cause: error },
    );
  return error;
}

/** Why the server could not listen, as one line. */
export function listenStartupError(error: unknown, host: string, port: number): unknown {
  switch (errorCode(error)) {
    case 'EADDRINUSE':
      return new StartupError(
        `${host}:${port} is already in use: stop the process listening there or set LATCHKEY_PORT to another port`,
        { cause: error },
      );
    case 'EACCES':
      return new StartupError(
        `no permission to listen on ${host}:${port}: use a port above 1023 or set LATCHKEY_PORT`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`${host} is not an address of this machine: check LATCHKEY_HOST`, {
        cause: error,
      });
    default:
      return error;
  }
}

import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen in time: this module never imports application code.

/**
 * PostgreSQL only: every committed change to a token, a user or an account is announced on the
 * `latchkey_writes` channel (schema, table, key), so every instance can drop what it remembered
 * of that row (store/postgres-write-listener.ts). A trigger, rather than the writer announcing
 * it, so no writer can forget (the CLI, another version, a hand-made fix in psql), and NOTIFY is
 * transactional: it is delivered at commit, in commit order, and never for a rolled-back change.
 * Only updates and deletes: an insert changes no row anyone remembers.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    create or replace function latchkey_announce_write() returns trigger language plpgsql as $$
    begin
      perform pg_notify('latchkey_writes', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' ' || (to_jsonb(OLD) ->> TG_ARGV[0]));
      return null;
    end
    $$`.execute(db);
  for (const [table, key] of [
    ['tokens', 'hash'],
    ['users', 'id'],
    ['domains', 'id'],
  ] as const) {
    await sql`create trigger ${sql.raw(`${table}_announce_write`)} after update or delete on ${sql.table(table)}
      for each row execute function latchkey_announce_write(${sql.lit(key)})`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  for (const table of ['tokens', 'users', 'domains']) {
    await sql`drop trigger if exists ${sql.raw(`${table}_announce_write`)} on ${sql.table(table)}`.execute(
      db,
    );
  }
  await sql`drop function if exists latchkey_announce_write()`.execute(db);
}

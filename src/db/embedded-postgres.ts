/**
 * `npm start` with no DATABASE_URL, and the tests on a machine with no PostgreSQL: PGlite
 * (PostgreSQL compiled to WebAssembly, in this process) with its data in a folder, served on a
 * loopback port by pglite-socket, so that the API and the worker reach it as they reach any
 * PostgreSQL, by DATABASE_URL. PGlite is one connection; pglite-socket multiplexes clients over
 * it, keeping a transaction's statements together.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** DATABASE_URL for the processes that use it. */
  url: string;
  stop(): Promise<void>;
}

/** Clients served at once: each process's pool, with room for a few processes. */
const MAX_CONNECTIONS = 64;

/** `dir`: the data folder (created if missing); undefined keeps it in memory (tests). */
export async function startEmbeddedPostgres(o: { dir?: string | undefined } = {}): Promise<EmbeddedPostgres> {
  if (o.dir) mkdirSync(o.dir, { recursive: true });
  const db = await PGlite.create(o.dir ?? 'memory://');
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: MAX_CONNECTIONS });
  await server.start();
  const conn = server.getServerConn();
  return {
    url: `postgres://postgres@${conn}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * `npm start` with no DATABASE_URL, and the tests on a machine with no PostgreSQL: PGlite
 * (PostgreSQL compiled to WebAssembly, in this process) with its data in a folder, served on a
 * loopback port, so that the API and the worker reach it as they reach any PostgreSQL, by
 * DATABASE_URL.
 *
 * PGlite is one session; every client shares it. pglite-socket's handler does the wire work
 * (start-up, SSL refusal, message framing) for each connection; what runs when is decided here.
 * Its own server queues each protocol message on its own and keeps a client's messages together
 * only inside a transaction block, so two clients' extended-protocol queries (Parse, Bind,
 * Execute, Sync: what pg sends for every parameterized query) may interleave in the one session
 * whenever PGlite's file writes let another socket's data in between, and a client would read
 * another's rows. (A start-test failure first seemed to be this; it was a work-in-progress
 * ledger format in the tree, and no test here has reproduced an interleaving: the guard is by
 * construction.) Here a client keeps the session from its first message to the end of its unit
 * (Sync, a simple Query, or Terminate), and for as long as it has a transaction block open; the
 * others wait their turn.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** DATABASE_URL for the processes that use it. */
  url: string;
  stop(): Promise<void>;
}

/** Protocol messages that end a unit: Sync, Query (simple protocol), Terminate; 0: start-up. */
const UNIT_ENDS = new Set([0x53, 0x51, 0x58, 0x00]);

interface Pending {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

/** The handlers' queue: one client's unit (or open transaction) at a time on the one session. */
class UnitQueue {
  private owner: number | null = null;
  private pending: Pending[] = [];
  private running = false;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const i = this.owner === null ? 0 : this.pending.findIndex((p) => p.handlerId === this.owner);
        if (i < 0 || this.pending.length === 0) return;
        const [p] = this.pending.splice(i, 1) as [Pending];
        this.owner = p.handlerId;
        let bytes = 0;
        try {
          await this.db.execProtocolRawStream(p.message, {
            onRawData: (data) => {
              bytes += data.length;
              p.onData(data);
            },
          });
          p.resolve(bytes);
        } catch (err) {
          p.reject(err as Error);
        }
        if (UNIT_ENDS.has(p.message[0]!) && !this.db.isInTransaction()) this.owner = null;
      }
    } finally {
      this.running = false;
    }
  }

  getQueueLength(): number {
    return this.pending.length;
  }

  clearQueueForHandler(handlerId: number): void {
    const gone = this.pending.filter((p) => p.handlerId === handlerId);
    this.pending = this.pending.filter((p) => p.handlerId !== handlerId);
    for (const p of gone) p.reject(new Error('connection closed'));
  }

  /** A client gone mid-transaction: roll it back and let the others in. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK').catch(() => {});
    this.owner = null;
    void this.pump();
  }
}

/** `dir`: the data folder (created if missing); undefined keeps it in memory (tests). */
export async function startEmbeddedPostgres(o: { dir?: string | undefined } = {}): Promise<EmbeddedPostgres> {
  if (o.dir) mkdirSync(o.dir, { recursive: true });
  const db = await PGlite.create(o.dir ?? 'memory://');
  const queue = new UnitQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server: Server = createServer((socket: Socket) => {
    // The handler's queue type is pglite-socket's own class; this one keeps its contract.
    const handler = new PGLiteSocketHandler({ queryQueue: queue as never, closeOnDetach: true });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener('close', forget);
    handler.addEventListener('error', forget);
    socket.on('error', () => {});
    handler.attach(socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const h of handlers) void h.detach(true);
      });
      await db.close();
    },
  };
}

/** The maintenance queue: its name, its job payloads (zod), and its schedules. */
import { z } from 'zod';

export const MAINTENANCE_QUEUE = 'maintenance';
export const CYCLE_SWEEP_SCHEDULER = 'cycle-sweep';
export const ALERT_SWEEP_SCHEDULER = 'alert-sweep';
export const LEDGER_ARCHIVE_SCHEDULER = 'ledger-archive';

export const maintenanceJobSchema = z.discriminatedUnion('kind', [
  /** Writes the roll of idle workspaces' ended cycles to their ledgers. */
  z.object({ kind: z.literal('cycle-sweep') }),
  /** Queues alerts left in a workspace's outbox (R-ALR-2). */
  z.object({ kind: z.literal('alert-sweep') }),
  /** Copies new ledger entries to PostgreSQL and trims what is copied and old (R-CON-7). */
  z.object({ kind: z.literal('ledger-archive') }),
]);
export type MaintenanceJob = z.infer<typeof maintenanceJobSchema>;

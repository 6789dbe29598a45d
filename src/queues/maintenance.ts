/** The maintenance queue: its name, its job payloads (zod), and its schedule. */
import { z } from 'zod';

export const MAINTENANCE_QUEUE = 'maintenance';
export const CYCLE_SWEEP_SCHEDULER = 'cycle-sweep';

export const cycleSweepJobSchema = z.object({ kind: z.literal('cycle-sweep') });

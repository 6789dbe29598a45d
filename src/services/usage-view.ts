/**
 * The usage view (R-USE-1): usage by day, feature category, feature or credit kind over a range
 * of UTC days, and the current cycle's summary.
 *
 * It never reads the ledger in Redis. The debit script adds every debited event to its day's
 * totals (`{ws:<id>}:ud:YYYY-MM-DD`, a hash "<feature>|<kind>" -> units, in the same atomic
 * step), so a request sums one small hash per day of the range, inside Redis (usage-sum.lua):
 * its cost depends on the range and the number of features, not on how many ledger entries
 * there are. Days past USAGE_REDIS_RETENTION are summed from the archived ledger in PostgreSQL.
 */

import type { LedgerHistory } from '../db/ledger-history.js';
import type { UsageDayRetention } from '../db/usage-retention.js';
import { flexRoom } from '../domain/burndown.js';
import type { Catalog } from '../domain/catalog.js';
import { BurnrateError } from '../domain/errors.js';
import { formatUnits } from '../domain/units.js';
import type { EngineStore, StoredState } from '../redis/engine-store.js';
import { balanceView } from './balance-view.js';

export const GROUP_BYS = ['day', 'category', 'feature', 'kind'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

/** At most this many days in one request (three years): its cost is one hash per day. */
export const MAX_RANGE_DAYS = 1096;
const DAY_MS = 86_400_000;

const KINDS = ['included', 'prepaid', 'flex', 'shortfall'] as const;
type Kind = (typeof KINDS)[number];
type ByKind = Record<Kind, number>;

/** Usage given as credits rather than a feature has no feature: it is shown as this. */
export const UNATTRIBUTED = 'unattributed';

const zero = (): ByKind => ({ included: 0, prepaid: 0, flex: 0, shortfall: 0 });

function view(k: ByKind) {
  return {
    credits: formatUnits(k.included + k.prepaid + k.flex),
    included: formatUnits(k.included),
    prepaid: formatUnits(k.prepaid),
    flex: formatUnits(k.flex),
    shortfall: formatUnits(k.shortfall),
  };
}

export class UsageView {
  private readonly categoryOf: Map<string, string>;

  constructor(
    private readonly deps: {
      store: EngineStore;
      catalog: Catalog;
      /** The archived ledger and the day totals' retention: days Redis no longer holds. */
      archived?: { history: LedgerHistory; usageDays: UsageDayRetention } | undefined;
    },
  ) {
    this.categoryOf = new Map(deps.catalog.rateCard.features.map((f) => [f.id, f.category]));
  }

  /** A feature's category (R-CAT-4): Data, Training, Deployment; third-party and unattributed usage apart. */
  category(feature: string): string {
    if (feature === '') return UNATTRIBUTED;
    if (feature.startsWith(this.deps.catalog.rateCard.thirdParty.featurePrefix)) return 'third_party';
    return this.categoryOf.get(feature) ?? 'other';
  }

  /**
   * Usage of the days from `from` to `to` (UTC, both included), grouped. Credits are what was
   * debited (included + prepaid + flex); a shortfall (recorded, not covered) is shown apart.
   */
  async usage(workspaceId: string, o: { from: number; to: number; groupBy: GroupBy }) {
    const first = Math.floor(o.from / DAY_MS);
    const last = Math.floor(o.to / DAY_MS);
    if (last < first) throw new BurnrateError('invalid_request', '`to` is before `from`');
    if (last - first + 1 > MAX_RANGE_DAYS) {
      throw new BurnrateError('invalid_request', `a range covers at most ${MAX_RANGE_DAYS} days`, {
        days: last - first + 1,
      });
    }
    const days: string[] = [];
    for (let d = first; d <= last; d++) days.push(new Date(d * DAY_MS).toISOString().slice(0, 10));
    const groups = new Map<string, ByKind>();
    const total = zero();
    const add = (key: string, kind: string, units: number) => {
      if (!(KINDS as readonly string[]).includes(kind)) return;
      let g = groups.get(key);
      if (!g) {
        g = zero();
        groups.set(key, g);
      }
      g[kind as Kind] += units;
      total[kind as Kind] += units;
    };
    if (o.groupBy === 'day') {
      for (const t of await this.totals(workspaceId, days, 'day')) add(days[t.day]!, t.field, t.units);
    } else {
      for (const t of await this.totals(workspaceId, days, 'field')) {
        const bar = t.field.lastIndexOf('|');
        const feature = t.field.slice(0, bar);
        const kind = t.field.slice(bar + 1);
        const key =
          o.groupBy === 'kind'
            ? kind
            : o.groupBy === 'feature'
              ? feature || UNATTRIBUTED
              : this.category(feature);
        add(key, kind, t.units);
      }
    }
    const keys = [...groups.keys()].sort();
    return {
      from: days[0]!,
      to: days[days.length - 1]!,
      groupBy: o.groupBy,
      groups: keys.map((key) => ({ key, ...view(groups.get(key)!) })),
      total: view(total),
    };
  }

  /**
   * The totals of `days`: Redis' day hashes, and for the days past their retention in Redis the
   * archived ledger in PostgreSQL (src/db/usage-retention.ts says which days those are).
   */
  private async totals(workspaceId: string, days: string[], mode: 'field' | 'day') {
    const firstInRedis = this.deps.archived
      ? await this.deps.archived.usageDays.firstRedisDay(workspaceId)
      : null;
    const split = firstInRedis === null ? 0 : days.filter((d) => d < firstInRedis).length;
    const recent = await this.deps.store.usageTotals(workspaceId, days.slice(split), mode);
    if (split === 0) return recent;
    const older = await this.deps.archived!.history.usageTotals(workspaceId, days.slice(0, split), mode);
    return [...older, ...recent.map((t) => (mode === 'day' ? { ...t, day: t.day + split } : t))];
  }

  /**
   * The current cycle at a glance (R-USE-1): the balance view (what is used, what is
   * `remaining`), the flex limit and what it still allows. `left` and `leftCredits` are the
   * names this summary answered with before the balance view was one; kept, as clients read
   * them (API.md: extend, never break). `flex.enabled` here has always meant flex can be used
   * now (allowed by the plan and switched on), where the workspace view shows both apart.
   */
  static cycleSummary(s: StoredState) {
    const v = balanceView(s);
    const { room } = flexRoom({ ...s, lots: [] });
    /** Flex credits still allowed this cycle (the lower of cap and threshold); null: no limit. */
    const flexRemaining = room === null ? null : formatUnits(s.blocked === null ? room : 0);
    return {
      start: new Date(s.cycleStart).toISOString(),
      end: new Date(s.cycleEnd).toISOString(),
      included: { ...v.included, left: v.included.remaining },
      prepaid: { ...v.prepaid, left: v.prepaid.remaining },
      flex: {
        ...v.flex,
        enabled: s.flexAllowed && s.flexEnabled,
        remainingCredits: flexRemaining,
        leftCredits: flexRemaining,
      },
      blocked: v.blocked,
    };
  }
}

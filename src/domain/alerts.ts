/**
 * Alerts, pure: the names and the record the debit script stores when it raises one (R-ALR-1),
 * whether a raised alert is still an active banner and its figures (R-ALR-2), and its texts in
 * English, Hindi and Korean (R-ALR-3). The Redis side (raising, banners, outbound webhooks) is
 * src/services/alerts.ts; the raising itself is in src/redis/lua/includes/core.lua (raiseAlerts).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type EngineState, flexRoom, split } from './burndown.js';
import { centsForUnits, formatUnits, unitsForCents } from './units.js';

/** In the order core.lua's raiseAlerts raises them (its bits 1, 2, 4, … in this order). */
export const ALERT_NAMES = [
  'included_80',
  'included_exhausted',
  'flex_started',
  'flex_cap_80',
  'flex_cap_reached',
  'credits_exhausted',
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

export const LANGS = ['en', 'hi', 'ko'] as const;
export type Lang = (typeof LANGS)[number];

const int = z
  .string()
  .regex(/^-?\d+$/)
  .transform(Number);
/** What the debit script stored when it raised the alert: the state right after the debit. */
export const alertRecordSchema = z.object({
  id: z.string(),
  name: z.enum(ALERT_NAMES),
  at: int,
  cycleSeq: int,
  cycleStart: int,
  cycleEnd: int,
  plan: z.string(),
  includedGranted: int,
  included: int,
  prepaid: int,
  flexUnits: int,
  priceE4: int,
  capCents: int,
  thresholdCents: int,
  flexAllowed: z.enum(['0', '1']),
  flexEnabled: z.enum(['0', '1']),
  limit: z.enum(['', 'cap', 'threshold']),
});
export type AlertRecord = z.infer<typeof alertRecordSchema>;

/** The id core.lua's alertId gives: stable per workspace, cycle and alert. */
export function alertId(engineKey: string, cycleSeq: number, name: AlertName): string {
  return `alr_${createHash('sha1').update(`${engineKey}\n${cycleSeq}\n${name}`).digest('hex').slice(0, 24)}`;
}

/**
 * The flex limit that binds (R-FLX-4): the lower of the customer's cap and the operator's
 * threshold, a tie being the threshold's (as flexRoom); null when there is neither.
 */
export function flexLimit(
  s: EngineState,
): { kind: 'cap' | 'threshold'; cents: number; units: number } | null {
  const cap = s.capCents === null ? null : unitsForCents(s.capCents, s.flexPriceE4);
  const thr = s.thresholdCents === null ? null : unitsForCents(s.thresholdCents, s.flexPriceE4);
  if (thr !== null && (cap === null || thr <= cap))
    return { kind: 'threshold', cents: s.thresholdCents!, units: thr };
  if (cap !== null) return { kind: 'cap', cents: s.capCents!, units: cap };
  return null;
}

/**
 * The alerts the state after a debit has crossed: the mirror of core.lua's `raiseAlerts` (the
 * property tests hold the two to the same answers). `short`: the event was refused or left a
 * shortfall.
 */
export function crossedAlerts(s: EngineState, short: boolean): Set<AlertName> {
  const due = new Set<AlertName>();
  if (s.includedGranted > 0) {
    if ((s.includedGranted - s.included) * 5 >= s.includedGranted * 4) due.add('included_80');
    if (s.included === 0) due.add('included_exhausted');
  }
  if (s.flexCycle > 0) due.add('flex_started');
  if (s.flexAllowed && s.flexEnabled) {
    const limit = flexLimit(s);
    if (limit && s.flexCycle > 0 && s.flexCycle * 5 >= limit.units * 4) due.add('flex_cap_80');
    if (s.included + s.prepaid === 0 && (s.flexCycle > 0 || short) && flexRoom(s).room === 0) {
      due.add('flex_cap_reached');
    }
  } else if (s.included + s.prepaid === 0) {
    due.add('credits_exhausted');
  }
  return due;
}

/**
 * Whether an alert raised this cycle is still a banner, judged on the state now: a block
 * lifted by a raised cap or a purchase takes its banner away; a bigger alert replaces a
 * smaller one (included used up replaces 80% used; cap reached replaces cap 80%).
 */
export function isActive(name: AlertName, s: EngineState): boolean {
  // A block keeps the reason it was set with (split then only says insufficient_credits).
  const reason = s.blocked ?? split(s, 1).reason;
  const capReached = reason === 'flex_cap_reached' || reason === 'billing_threshold_reached';
  switch (name) {
    case 'included_80':
      return s.included > 0 && (s.includedGranted - s.included) * 5 >= s.includedGranted * 4;
    case 'included_exhausted':
      return s.includedGranted > 0 && s.included === 0;
    case 'flex_started':
      return s.flexCycle > 0;
    case 'flex_cap_80': {
      const limit = flexLimit(s);
      return !capReached && limit !== null && s.flexCycle * 5 >= limit.units * 4;
    }
    case 'flex_cap_reached':
      return capReached;
    case 'credits_exhausted':
      return reason === 'plan_blocks_flex' || reason === 'flex_disabled' || reason === 'insufficient_credits';
  }
}

/**
 * An alert as its banner shows it (R-ALR-2): raised when it was, with the figures of the state
 * now. The stored record keeps the figures of its raising, for the webhook and the history;
 * a banner read later ("the banner shows how many credits you've used") tells the current
 * use, and the limit that binds now (a cap raised after the alert was raised).
 */
export function withCurrentFigures(r: AlertRecord, s: EngineState): AlertRecord {
  let limit = r.limit;
  if (r.name === 'flex_cap_80') limit = flexLimit(s)?.kind ?? r.limit;
  if (r.name === 'flex_cap_reached') {
    // The block's own reason names what was reached, as isActive reads it.
    limit = (s.blocked ?? split(s, 1).reason) === 'billing_threshold_reached' ? 'threshold' : 'cap';
  }
  return {
    ...r,
    cycleStart: s.cycleStart,
    cycleEnd: s.cycleEnd,
    plan: s.planId,
    includedGranted: s.includedGranted,
    included: s.included,
    prepaid: s.prepaid,
    flexUnits: s.flexCycle,
    priceE4: s.flexPriceE4,
    // The record's encoding of "none", as core.lua's raiseAlert writes it.
    capCents: s.capCents ?? -1,
    thresholdCents: s.thresholdCents ?? -1,
    flexAllowed: s.flexAllowed ? '1' : '0',
    flexEnabled: s.flexEnabled ? '1' : '0',
    limit,
  };
}

/** The prepaid offer shown with flex_started: a bundle and what it saves against flex. */
export interface PrepaidOffer {
  bundleId: string;
  credits: number;
  amountCents: number;
  savingCents: number;
}

/** The figures behind an alert, as the API and the webhooks show them. */
export function alertFigures(r: AlertRecord, offer: PrepaidOffer | null) {
  const used = r.includedGranted - r.included;
  const flexCents = centsForUnits(r.flexUnits, r.priceE4);
  const cycle = { start: new Date(r.cycleStart).toISOString(), end: new Date(r.cycleEnd).toISOString() };
  switch (r.name) {
    case 'included_80':
    case 'included_exhausted':
      return {
        cycle,
        usedCredits: formatUnits(used),
        grantedCredits: formatUnits(r.includedGranted),
        percentUsed: r.includedGranted > 0 ? Math.floor((used * 100) / r.includedGranted) : 100,
      };
    case 'flex_started':
      return {
        cycle,
        flexUnitAmountCents: formatUnits(r.priceE4),
        flexUsedCredits: formatUnits(r.flexUnits),
        recommendation: offer,
      };
    case 'flex_cap_80': {
      const limitCents = r.limit === 'threshold' ? r.thresholdCents : r.capCents;
      return {
        cycle,
        limit: r.limit === 'threshold' ? ('threshold' as const) : ('cap' as const),
        limitCents,
        flexUsedCredits: formatUnits(r.flexUnits),
        usedCents: flexCents,
        percentUsed: limitCents > 0 ? Math.floor((flexCents * 100) / limitCents) : 100,
      };
    }
    case 'flex_cap_reached':
      return {
        cycle,
        limit: r.limit === 'threshold' ? ('threshold' as const) : ('cap' as const),
        limitCents: r.limit === 'threshold' ? r.thresholdCents : r.capCents,
        usedCents: flexCents,
        flexUsedCredits: formatUnits(r.flexUnits),
      };
    case 'credits_exhausted':
      return {
        cycle,
        cause: r.flexAllowed === '1' ? ('flex_disabled' as const) : ('plan_without_flex' as const),
        grantedCredits: formatUnits(r.includedGranted),
      };
  }
}

/** Cents as money: "$12.34" for dollars, else "12.34 EUR". */
export function formatMoney(cents: number, currency: string): string {
  const abs = Math.abs(cents);
  const text = `${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
  const sign = cents < 0 ? '-' : '';
  return currency === 'usd' ? `${sign}$${text}` : `${sign}${text} ${currency.toUpperCase()}`;
}

type Vars = Record<string, string>;
type Texts = Record<
  AlertName | 'flex_started_offer' | 'threshold_80' | 'threshold_reached' | 'exhausted_no_flex',
  string
>;

/**
 * The banner texts (R-ALR-3), in the register of the seed help pages: Hindi and Korean keep
 * the product's English terms (included credits, flex, cap, billing cycle) as the seeds do.
 */
const TEXTS: Record<Lang, Texts> = {
  en: {
    included_80:
      'You have used {used} of your {granted} included credits ({pct}%) this billing cycle. Prepaid credits cost less per credit than flex usage.',
    included_exhausted:
      'You have used all {granted} included credits of this billing cycle. Prepaid credits are used next, then flex usage.',
    flex_started: 'Your workspace has started using flex credits, at {price} per credit.',
    flex_started_offer:
      'Your workspace has started using flex credits, at {price} per credit. The {credits}-credit prepaid bundle costs {amount} and saves {saving} against flex.',
    flex_cap_80: 'Flex usage has reached {pct}% of your {cap} cap this billing cycle ({used} used).',
    threshold_80:
      'Flex usage has reached {pct}% of the billing threshold of {cap} this billing cycle ({used} used).',
    flex_cap_reached:
      'Flex usage has reached your {cap} cap: usage that consumes credits is blocked until the cap is raised or the billing cycle resets.',
    threshold_reached:
      'Flex usage has reached the billing threshold of {cap}: usage that consumes credits is blocked until the threshold is raised or the billing cycle resets.',
    credits_exhausted:
      'Your workspace has used all its credits: usage that consumes credits is blocked until you buy prepaid credits, enable flex billing or the billing cycle resets.',
    exhausted_no_flex:
      'Your workspace has used all its credits: usage that consumes credits is blocked until you buy prepaid credits, upgrade your plan or the billing cycle resets.',
  },
  hi: {
    included_80:
      'आपने इस billing cycle में अपने {granted} included credits में से {used} ({pct}%) उपयोग कर लिए हैं। Prepaid credits की प्रति credit कीमत flex usage से कम है।',
    included_exhausted:
      'आपने इस billing cycle के सभी {granted} included credits उपयोग कर लिए हैं। अब पहले prepaid credits, फिर flex usage उपयोग होगा।',
    flex_started: 'आपका workspace अब {price} प्रति credit की दर से flex credits उपयोग कर रहा है।',
    flex_started_offer:
      'आपका workspace अब {price} प्रति credit की दर से flex credits उपयोग कर रहा है। {credits} credits का prepaid bundle {amount} का है और flex की तुलना में {saving} बचाता है।',
    flex_cap_80: 'इस billing cycle में flex usage आपकी {cap} की cap के {pct}% तक पहुँच गया है ({used} उपयोग हुआ)।',
    threshold_80:
      'इस billing cycle में flex usage {cap} की billing threshold के {pct}% तक पहुँच गया है ({used} उपयोग हुआ)।',
    flex_cap_reached:
      'Flex usage आपकी {cap} की cap तक पहुँच गया है: cap बढ़ाए जाने या billing cycle reset होने तक credits उपयोग करने वाला usage रोका गया है।',
    threshold_reached:
      'Flex usage {cap} की billing threshold तक पहुँच गया है: threshold बढ़ाए जाने या billing cycle reset होने तक credits उपयोग करने वाला usage रोका गया है।',
    credits_exhausted:
      'आपके workspace के सभी credits उपयोग हो चुके हैं: prepaid credits खरीदने, flex billing enable करने या billing cycle reset होने तक credits उपयोग करने वाला usage रोका गया है।',
    exhausted_no_flex:
      'आपके workspace के सभी credits उपयोग हो चुके हैं: prepaid credits खरीदने, plan upgrade करने या billing cycle reset होने तक credits उपयोग करने वाला usage रोका गया है।',
  },
  ko: {
    included_80:
      '이번 billing cycle에 included credits {granted}개 중 {used}개({pct}%)를 사용했습니다. Prepaid credits는 flex usage보다 크레딧당 가격이 낮습니다.',
    included_exhausted:
      '이번 billing cycle의 included credits {granted}개를 모두 사용했습니다. 이제 prepaid credits가, 그다음 flex usage가 사용됩니다.',
    flex_started: 'workspace가 크레딧당 {price}에 flex credits를 사용하기 시작했습니다.',
    flex_started_offer:
      'workspace가 크레딧당 {price}에 flex credits를 사용하기 시작했습니다. {credits} credits prepaid bundle은 {amount}이며 flex보다 {saving} 절약됩니다.',
    flex_cap_80: '이번 billing cycle의 flex usage가 {cap} cap의 {pct}%에 도달했습니다({used} 사용).',
    threshold_80:
      '이번 billing cycle의 flex usage가 billing threshold {cap}의 {pct}%에 도달했습니다({used} 사용).',
    flex_cap_reached:
      'flex usage가 {cap} cap에 도달했습니다. cap을 올리거나 billing cycle이 재설정될 때까지 크레딧을 사용하는 작업이 차단됩니다.',
    threshold_reached:
      'flex usage가 billing threshold {cap}에 도달했습니다. threshold가 올라가거나 billing cycle이 재설정될 때까지 크레딧을 사용하는 작업이 차단됩니다.',
    credits_exhausted:
      'workspace의 크레딧을 모두 사용했습니다. prepaid credits를 구매하거나 flex billing을 활성화하거나 billing cycle이 재설정될 때까지 크레딧을 사용하는 작업이 차단됩니다.',
    exhausted_no_flex:
      'workspace의 크레딧을 모두 사용했습니다. prepaid credits를 구매하거나 plan을 upgrade하거나 billing cycle이 재설정될 때까지 크레딧을 사용하는 작업이 차단됩니다.',
  },
};

function fill(template: string, vars: Vars): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`alert text needs {${k}}`);
    return v;
  });
}

/** An alert's text in a language, with its figures filled in. */
export function alertMessage(
  r: AlertRecord,
  figures: ReturnType<typeof alertFigures>,
  lang: Lang,
  currency: string,
): string {
  const t = TEXTS[lang];
  const money = (c: number) => formatMoney(c, currency);
  const f = figures as Record<string, unknown>;
  switch (r.name) {
    case 'included_80':
    case 'included_exhausted':
      return fill(t[r.name], {
        used: String(f.usedCredits),
        granted: String(f.grantedCredits),
        pct: String(f.percentUsed),
      });
    case 'flex_started': {
      const price = formatPrice(r.priceE4, currency);
      const offer = f.recommendation as PrepaidOffer | null;
      if (!offer) return fill(t.flex_started, { price });
      return fill(t.flex_started_offer, {
        price,
        credits: String(offer.credits),
        amount: money(offer.amountCents),
        saving: money(offer.savingCents),
      });
    }
    case 'flex_cap_80':
      return fill(r.limit === 'threshold' ? t.threshold_80 : t.flex_cap_80, {
        pct: String(f.percentUsed),
        cap: money(f.limitCents as number),
        used: money(f.usedCents as number),
      });
    case 'flex_cap_reached':
      return fill(r.limit === 'threshold' ? t.threshold_reached : t.flex_cap_reached, {
        cap: money(f.limitCents as number),
      });
    case 'credits_exhausted':
      return r.flexAllowed === '1' ? t.credits_exhausted : t.exhausted_no_flex;
  }
}

/** A per-credit price (1/10 000 cent) as money, keeping sub-cent digits: "$4.00", "$3.995". */
function formatPrice(priceE4: number, currency: string): string {
  const cents = Math.floor(priceE4 / 10_000);
  const frac = priceE4 % 10_000;
  const base = formatMoney(cents, currency);
  if (frac === 0) return base;
  const digits = String(frac).padStart(4, '0').replace(/0+$/, '');
  return currency === 'usd' ? `${base}${digits}` : base.replace(' ', `${digits} `);
}

/** An alert as the API and the webhooks show it: figures and the text in one language. */
export function renderAlert(r: AlertRecord, lang: Lang, currency: string, offer: PrepaidOffer | null) {
  const data = alertFigures(r, offer);
  return {
    id: r.id,
    type: r.name,
    raisedAt: new Date(r.at).toISOString(),
    message: alertMessage(r, data, lang, currency),
    data,
  };
}

/** Every language's text, for the webhook body. */
export function alertMessages(r: AlertRecord, currency: string, offer: PrepaidOffer | null) {
  const data = alertFigures(r, offer);
  return Object.fromEntries(LANGS.map((l) => [l, alertMessage(r, data, l, currency)])) as Record<
    Lang,
    string
  >;
}

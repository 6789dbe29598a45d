/**
 * A ledger entry as `ledger_entries`' row (R-CON-7, issue 10): the line of COPY's text format
 * the archiver's round goes by, and the JSON array its INSERT takes apart where COPY cannot be.
 *
 * A round's COPY text is written byte by byte into one Buffer (CopyText): a compact entry's
 * columns go straight from its stored bytes (ledger-codec.ts) to its line, without the strings
 * and objects of a decoded row. The archiver writes tens of thousands of lines a second beside
 * the debits, on the same cores: `npm run bench:copy` measured 7.0–7.4 µs a line as strings
 * (each entry's row decoded, its line a template, the lines joined, the text encoded by the
 * socket) against 3.3–3.6 µs as bytes. An entry the bytes do not cover (the older field/value
 * format) goes by its string line (rowCopy), which is also what the bytes must equal
 * (test/unit/ledger-copy.test.ts). Its walk of the value repeats decodeLedgerRow's, field for
 * field; the property test holds the two together.
 */
import { compactLedgerValue, type LedgerRow, toLedgerRow } from '../redis/engine-store.js';
import {
  decodeLedgerRow,
  LEDGER_EXTRA_NAMES,
  ledgerExtraName,
  ledgerKindName,
  ledgerTypeName,
  MsgpackReader,
  msgpackText,
} from '../redis/ledger-codec.js';

/** An entry as XRANGE gives it in Buffers: its id, and its fields and values. */
export type RawEntry = [Buffer, Buffer[]];

/** `ledger_entries`' columns in the order rowJson and the COPY text give them. */
export const COPY_COLUMNS = [
  'workspace_id',
  'stream_ms',
  'stream_seq',
  'at_ms',
  'type',
  'kind',
  'units',
  'balance_after',
  'ref',
  'extra',
] as const;

/** The fields every entry has; the rest go to `extra`. */
const CORE_FIELDS = new Set(['at', 'type', 'kind', 'units', 'bal', 'ref']);

/** PostgreSQL's text holds no NUL: one becomes U+FFFD (the only change a copy makes). */
export const pgText = (v: string) => (v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v);

/** A value in COPY's text format: backslash, tab, newline and return escaped; NUL as pgText. */
export function copyEscape(v: string): string {
  const t = pgText(v);
  return /[\\\t\n\r]/.test(t)
    ? t.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
    : t;
}

/** "<ms>-<seq>" as two numbers. */
export function parseStreamId(id: string): { ms: number; seq: number } {
  const i = id.indexOf('-');
  return { ms: Number(id.slice(0, i)), seq: Number(id.slice(i + 1)) };
}

/** parseStreamId of an id as XRANGE's Buffer gives it, read off its ASCII digits. */
function streamIdOf(id: Buffer): { ms: number; seq: number } {
  let ms = 0;
  let i = 0;
  for (; i < id.length && id[i] !== 0x2d; i++) ms = ms * 10 + id[i]! - 0x30;
  let seq = 0;
  for (i++; i < id.length; i++) seq = seq * 10 + id[i]! - 0x30;
  return { ms, seq };
}

/** An entry of the older format as decodeLedgerRow gives a compact one: the rest in `extra`. */
function columnsOf(r: LedgerRow): ReturnType<typeof decodeLedgerRow> {
  const extra: Record<string, string> = {};
  for (const f in r.fields) if (!CORE_FIELDS.has(f)) extra[f] = r.fields[f]!;
  return { at: r.at, type: r.type, kind: r.kind, ref: r.ref, units: r.units, bal: r.balanceAfter, extra };
}

/** `extra` as its column's JSON: '{}' when the entry has none, each value as pgText. */
function extraJson(extra: Record<string, string>): string {
  let json = '{}';
  for (const f in extra) {
    extra[f] = pgText(extra[f]!);
    json = '';
  }
  return json || JSON.stringify(extra);
}

/** An entry's columns after the workspace's, through its decoded row. */
function entryColumns(entry: RawEntry) {
  const { ms, seq } = streamIdOf(entry[0]);
  const compact = compactLedgerValue(entry[1]);
  const e = compact ? decodeLedgerRow(compact) : columnsOf(toLedgerRow(entry));
  return { ms, seq, e, extra: extraJson(e.extra) };
}

/**
 * One entry as the JSON array the INSERT takes apart (COPY_COLUMNS' order). `ws` is the workspace id
 * already as JSON.
 */
export function rowJson(ws: string, entry: RawEntry): string {
  const { ms, seq, e, extra } = entryColumns(entry);
  const text = (v: string) => JSON.stringify(pgText(v));
  return `[${ws},${ms},${seq},${e.at},${text(e.type)},${text(e.kind)},${e.units},${e.bal},${text(e.ref)},${extra}]`;
}

/** One entry as a line of COPY's text format (COPY_COLUMNS' order). `ws` is the workspace id already escaped. */
export function rowCopy(ws: string, entry: RawEntry): string {
  const { ms, seq, e, extra } = entryColumns(entry);
  return `${ws}\t${ms}\t${seq}\t${e.at}\t${copyEscape(e.type)}\t${copyEscape(e.kind)}\t${e.units}\t${e.bal}\t${copyEscape(e.ref)}\t${copyEscape(extra)}\n`;
}

const TAB = 0x09;
const HEX = Buffer.from('0123456789abcdef');
const USE = Buffer.from('use_');

/** A growing Buffer the round's lines are written into. */
class Lines {
  buf: Buffer;
  len = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 4096));
  }

  /** Room for n more bytes. */
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  /** A few bytes (a name, an id): a loop beats Buffer#copy's call at this size. */
  bytes(b: Buffer, from = 0, to = b.length): void {
    this.room(to - from);
    const out = this.buf;
    let n = this.len;
    for (let i = from; i < to; i++) out[n++] = b[i]!;
    this.len = n;
  }

  /** A string as it is (already escaped where it must be), in UTF-8. */
  string(s: string): void {
    this.room(s.length * 3);
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  /** A number as `${n}` writes it, an integer's digits without a string. */
  number(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.string(String(n));
      return;
    }
    this.room(17);
    if (n < 0) {
      this.buf[this.len++] = 0x2d;
      n = -n;
    }
    // In 32-bit integer steps: below 2^53, a high part and a low one of 8 digits.
    if (n >= 1e8) {
      const high = Math.floor(n / 1e8);
      this.digits(high);
      this.digits(n - high * 1e8, 8);
    } else {
      this.digits(n);
    }
  }

  /** 0 ≤ n < 10^8 as its digits, zero-padded to `width`. */
  private digits(n: number, width = 0): void {
    let count = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) count++;
    if (count < width) count = width;
    const out = this.buf;
    let at = this.len + count;
    this.len = at;
    for (let i = 0; i < count; i++) {
      const q = (n / 10) | 0;
      out[--at] = 0x30 + n - q * 10;
      n = q;
    }
  }
}

/** Each name a code stands for, as the bytes of its escaped text (built on first use). */
const typeBytes: Buffer[] = [];
const kindBytes: Buffer[] = [];
function nameBytes(cache: Buffer[], code: number, name: (code: number) => string): Buffer {
  cache[code] ??= Buffer.from(copyEscape(name(code)));
  return cache[code];
}

/**
 * A compact entry's line (rowCopy's bytes), from its stored value: the layout is
 * ledger-codec.ts' (decodeLedgerRow reads the same fields in the same order).
 */
function writeCompact(out: Lines, ws: Buffer, id: Buffer, v: Buffer): void {
  out.bytes(ws);
  out.byte(TAB);
  // The id's "<ms>-<seq>" is already the two columns' digits.
  const start = out.len;
  out.bytes(id);
  for (let i = start; i < out.len; i++) if (out.buf[i] === 0x2d) out.buf[i] = TAB;
  out.byte(TAB);
  const tc = v[0]!;
  const kc = v[1]!;
  const r = new MsgpackReader(v);
  out.number(v.readIntBE(2, 6));
  out.byte(TAB);
  r.pos = 8;
  if (tc & 0x7f) out.bytes(nameBytes(typeBytes, tc & 0x7f, ledgerTypeName));
  else out.string(copyEscape(msgpackText(r.value())));
  out.byte(TAB);
  if (kc) out.bytes(nameBytes(kindBytes, kc, ledgerKindName));
  else out.string(copyEscape(msgpackText(r.value())));
  out.byte(TAB);
  // The ref after the two numbers, read first: a usage id's 16 bytes, or a string.
  let refBytes: Buffer | undefined;
  let ref = '';
  if (tc & 0x80) refBytes = r.bytes(16);
  else ref = msgpackText(r.value());
  out.number(Number(r.value()));
  out.byte(TAB);
  out.number(Number(r.value()));
  out.byte(TAB);
  if (refBytes) {
    out.bytes(USE);
    out.room(32);
    for (const b of refBytes) {
      out.buf[out.len++] = HEX[b >> 4]!;
      out.buf[out.len++] = HEX[b & 15]!;
    }
  } else {
    out.string(copyEscape(ref));
  }
  out.byte(TAB);
  if (r.done) {
    out.byte(0x7b);
    out.byte(0x7d);
  } else if (!writePlainExtra(out, v, r.pos)) {
    const extra: Record<string, string> = {};
    while (!r.done) {
      const name = r.value();
      extra[ledgerExtraName(name)] = msgpackText(r.value());
    }
    out.string(copyEscape(extraJson(extra)));
  }
  out.byte(0x0a);
}

/** `"<name>":` of each extra field's code, for writePlainExtra. */
const extraKeys: Buffer[] = LEDGER_EXTRA_NAMES.map((name) => Buffer.from(`${JSON.stringify(name)}:`));

/**
 * The extra fields from `pos` to the end of the value as their JSON object, straight from the
 * bytes, where that is extraJson's text as it is: every name a known code (once each), every
 * value a string of printable ASCII other than `"` and `\` (a feature, a month, a cycle: no
 * escape in JSON or COPY). Otherwise it writes nothing and answers false.
 */
function writePlainExtra(out: Lines, v: Buffer, pos: number): boolean {
  const start = out.len;
  const plainBytes = (from: number, to: number) => {
    for (let i = from; i < to; i++)
      if (v[i]! < 0x20 || v[i]! >= 0x7f || v[i] === 0x22 || v[i] === 0x5c) return false;
    return true;
  };
  let seen = 0;
  out.byte(0x7b);
  while (pos < v.length) {
    const code = v[pos]!;
    // A MessagePack string after the code: fixstr, str8 or str16.
    const t = v[pos + 1];
    const head = t === undefined ? 0 : t >= 0xa0 && t <= 0xbf ? 1 : t === 0xd9 ? 2 : t === 0xda ? 3 : 0;
    const len =
      head === 1
        ? t! & 0x1f
        : head === 2
          ? v[pos + 2]
          : head === 3 && pos + 4 <= v.length
            ? v.readUInt16BE(pos + 2)
            : undefined;
    const from = pos + 1 + head;
    if (
      code === 0 ||
      code >= extraKeys.length ||
      seen & (1 << code) ||
      len === undefined ||
      from + len > v.length ||
      !plainBytes(from, from + len)
    ) {
      out.len = start;
      return false;
    }
    if (seen) out.byte(0x2c);
    seen |= 1 << code;
    out.bytes(extraKeys[code]!);
    out.byte(0x22);
    out.bytes(v, from, from + len);
    out.byte(0x22);
    pos = from + len;
  }
  out.byte(0x7d);
  return true;
}

/** A round's COPY text, a workspace's page at a time: rowCopy's lines in UTF-8, in one Buffer. */
export class CopyText {
  private readonly out: Lines;

  /** `rows`: about how many lines the round holds (the Buffer grows past it if need be). */
  constructor(rows: number) {
    this.out = new Lines(rows * 128);
  }

  /** A page's lines; a page with an entry that cannot be read adds none of them, and throws. */
  add(workspaceId: string, page: RawEntry[]): void {
    const wsText = copyEscape(workspaceId);
    const ws = Buffer.from(wsText);
    const start = this.out.len;
    try {
      for (const entry of page) {
        const compact = compactLedgerValue(entry[1]);
        if (compact) writeCompact(this.out, ws, entry[0], compact);
        else this.out.string(rowCopy(wsText, entry));
      }
    } catch (err) {
      this.out.len = start;
      throw err;
    }
  }

  /** The text so far. */
  get bytes(): Buffer {
    return this.out.buf.subarray(0, this.out.len);
  }
}

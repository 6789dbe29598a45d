/**
 * The compact ledger entry (issue 10 §2, R-CON-7): core.lua's `ledger` writes one binary field
 * `p` per stream entry, so the stream stores no field names and about a third of the bytes.
 * This decodes it into the field/value strings the entries always had (at, type, kind, units,
 * bal, ref, and lot, feature, occurredAt, month, cyc, reason where given), so every reader
 * (GET …/ledger, the ledger check, the archiver) sees what it saw before.
 *
 * Layout: type code, kind code (one byte each; bit 0x80 of the type: the ref is a usage id kept
 * as its 16 raw bytes), at (6-byte big-endian integer, ms), [the type as a MessagePack string
 * when its code is 0], [the kind likewise], the ref (16 bytes, or a MessagePack string), units
 * and balance (MessagePack integers), then pairs: an extra field's code or name, its value.
 */

/** A MessagePack value as the text every reader sees: nil is empty. */
export const msgpackText = (v: string | number | null) =>
  v === null ? '' : typeof v === 'number' ? String(v) : v;

const TYPES = ['', 'consume', 'grant', 'expiry', 'forfeit', 'adjustment', 'refund', 'shortfall'];
const KINDS = ['', 'included', 'prepaid', 'flex', 'none'];
/** The extra fields' names by their codes (0: none). */
export const LEDGER_EXTRA_NAMES: readonly string[] = [
  '',
  'lot',
  'feature',
  'occurredAt',
  'month',
  'cyc',
  'reason',
];

/** A type's name by its code (the low 7 bits of the first byte; 0: spelled out after `at`). */
export const ledgerTypeName = (code: number) => TYPES[code] ?? `type-${code}`;
/** A kind's name by its code (the second byte; 0: spelled out). */
export const ledgerKindName = (code: number) => KINDS[code] ?? `kind-${code}`;
/** An extra field's name: its code, or its name as written. */
export const ledgerExtraName = (name: string | number | null) =>
  typeof name === 'number' ? (LEDGER_EXTRA_NAMES[name] ?? String(name)) : msgpackText(name);

/** A MessagePack reader for what Lua's cmsgpack writes for numbers and strings. */
export class MsgpackReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done() {
    return this.pos >= this.buf.length;
  }

  value(): string | number | null {
    const b = this.buf;
    if (this.pos >= b.length) throw new Error('ledger entry: its MessagePack value is cut short');
    const t = b[this.pos++]!;
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0xa0 && t <= 0xbf) return this.str(t & 0x1f);
    switch (t) {
      case 0xc0:
        return null;
      case 0xcc:
        return b[this.pos++]!;
      case 0xcd:
        return this.take(2, () => b.readUInt16BE(this.pos));
      case 0xce:
        return this.take(4, () => b.readUInt32BE(this.pos));
      case 0xcf:
        return this.take(8, () => Number(b.readBigUInt64BE(this.pos)));
      case 0xd0:
        return this.take(1, () => b.readInt8(this.pos));
      case 0xd1:
        return this.take(2, () => b.readInt16BE(this.pos));
      case 0xd2:
        return this.take(4, () => b.readInt32BE(this.pos));
      case 0xd3:
        return this.take(8, () => Number(b.readBigInt64BE(this.pos)));
      case 0xca:
        return this.take(4, () => b.readFloatBE(this.pos));
      case 0xcb:
        return this.take(8, () => b.readDoubleBE(this.pos));
      case 0xd9:
        return this.str(this.take(1, () => b[this.pos]!));
      case 0xda:
        return this.str(this.take(2, () => b.readUInt16BE(this.pos)));
      case 0xdb:
        return this.str(this.take(4, () => b.readUInt32BE(this.pos)));
      default:
        throw new Error(`ledger entry: unexpected MessagePack byte 0x${t.toString(16)}`);
    }
  }

  bytes(n: number): Buffer {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private take<T>(n: number, read: () => T): T {
    const v = read();
    this.pos += n;
    return v;
  }

  private str(n: number): string {
    return this.bytes(n).toString('utf8');
  }
}

/** The fields of a compact ledger entry's value, as strings (what every reader of the ledger sees). */
export function decodeLedgerFields(buf: Buffer): Record<string, string> {
  const e = decodeLedgerRow(buf);
  return {
    at: String(e.at),
    type: e.type,
    kind: e.kind,
    units: String(e.units),
    bal: String(e.bal),
    ref: e.ref,
    ...e.extra,
  };
}

/**
 * A compact entry as PostgreSQL's row of it, for the archiver (src/db/ledger-archive.ts): the
 * core fields as they are (numbers stay numbers) and the rest as `extra`, without the field
 * strings decodeLedgerFields makes for every reader. Copying a million entries decodes a million.
 */
export function decodeLedgerRow(buf: Buffer): {
  at: number;
  type: string;
  kind: string;
  ref: string;
  units: number;
  bal: number;
  extra: Record<string, string>;
} {
  const tc = buf[0]!;
  const kc = buf[1]!;
  const r = new MsgpackReader(buf);
  const at = buf.readIntBE(2, 6);
  r.pos = 8;
  const type = tc & 0x7f ? ledgerTypeName(tc & 0x7f) : msgpackText(r.value());
  const kind = kc ? ledgerKindName(kc) : msgpackText(r.value());
  const ref = tc & 0x80 ? `use_${r.bytes(16).toString('hex')}` : msgpackText(r.value());
  const units = Number(r.value());
  const bal = Number(r.value());
  const extra: Record<string, string> = {};
  while (!r.done) {
    const name = r.value();
    const value = r.value();
    extra[ledgerExtraName(name)] = msgpackText(value);
  }
  return { at, type, kind, ref, units, bal, extra };
}

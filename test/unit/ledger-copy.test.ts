/**
 * A round's COPY text written from the entries' bytes (src/db/ledger-copy.ts, issue 10) is
 * byte for byte the text of each entry's decoded row (rowCopy), for any compact entry the
 * codec can hold (a type or kind by code or spelled out, a usage id or a string ref, numbers of
 * every MessagePack width, extra fields by code or name, text with COPY's escapes, NUL and
 * characters beyond ASCII) and for entries of the older field/value format among them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CopyText, copyEscape, type RawEntry, rowCopy } from '../../src/db/ledger-copy.js';

/** MessagePack as Lua's cmsgpack writes it, for the values the codec reads. */
function pack(v: string | number | null): Buffer {
  if (v === null) return Buffer.from([0xc0]);
  if (typeof v === 'string') {
    const s = Buffer.from(v);
    if (s.length < 32) return Buffer.concat([Buffer.from([0xa0 | s.length]), s]);
    if (s.length < 256) return Buffer.concat([Buffer.from([0xd9, s.length]), s]);
    const h = Buffer.alloc(3);
    h[0] = 0xda;
    h.writeUInt16BE(s.length, 1);
    return Buffer.concat([h, s]);
  }
  if (!Number.isSafeInteger(v)) {
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(v, 1);
    return b;
  }
  if (v >= 0 && v <= 0x7f) return Buffer.from([v]);
  if (v < 0 && v >= -32) return Buffer.from([v + 0x100]);
  const [tag, size, write] = INT_WIDTHS.find(([, , , min, max]) => v >= min && v <= max)!;
  const b = Buffer.alloc(1 + size);
  b[0] = tag;
  write(b, v);
  return b;
}

/** cmsgpack's integers beyond the fixints, smallest first: tag, bytes, writer, range. */
const INT_WIDTHS: [number, number, (b: Buffer, v: number) => void, number, number][] = [
  [0xcc, 1, (b, v) => b.writeUInt8(v, 1), 0, 0xff],
  [0xd0, 1, (b, v) => b.writeInt8(v, 1), -0x80, -1],
  [0xcd, 2, (b, v) => b.writeUInt16BE(v, 1), 0, 0xffff],
  [0xd1, 2, (b, v) => b.writeInt16BE(v, 1), -0x8000, -1],
  [0xce, 4, (b, v) => b.writeUInt32BE(v, 1), 0, 0xffffffff],
  [0xd2, 4, (b, v) => b.writeInt32BE(v, 1), -0x80000000, -1],
  [0xcf, 8, (b, v) => b.writeBigUInt64BE(BigInt(v), 1), 0, Number.MAX_SAFE_INTEGER],
  [0xd3, 8, (b, v) => b.writeBigInt64BE(BigInt(v), 1), Number.MIN_SAFE_INTEGER, -1],
];

interface Compact {
  /** 1–7 a known type, 8+ an unknown code, 0: spelled out as `typeName`. */
  typeCode: number;
  typeName: string;
  kindCode: number;
  kindName: string;
  at: number;
  ref: Buffer | string;
  units: number;
  bal: number;
  extra: [string | number, string | number | null][];
}

/** The stored value (ledger-codec.ts' layout). */
function compactValue(c: Compact): Buffer {
  const head = Buffer.alloc(8);
  head[0] = c.typeCode | (typeof c.ref === 'string' ? 0 : 0x80);
  head[1] = c.kindCode;
  head.writeIntBE(c.at, 2, 6);
  return Buffer.concat([
    head,
    ...(c.typeCode === 0 ? [pack(c.typeName)] : []),
    ...(c.kindCode === 0 ? [pack(c.kindName)] : []),
    typeof c.ref === 'string' ? pack(c.ref) : c.ref,
    pack(c.units),
    pack(c.bal),
    ...c.extra.flatMap(([name, value]) => [pack(name), pack(value)]),
  ]);
}

/** Text with what COPY escapes, what PostgreSQL cannot hold, and what is not ASCII. */
const awkward = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', '\t', '\n', '\r', '\\', '\0', '"', 'é', '한', '\u{1F600}', 'N'),
  maxLength: 40,
});
const integer = fc.oneof(
  fc.integer({ min: -40, max: 200 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
  fc.maxSafeInteger(),
  fc.constant(-(2 ** 53) + 1),
);
const compact: fc.Arbitrary<Compact> = fc.record({
  typeCode: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 8, max: 127 })),
  typeName: awkward,
  kindCode: fc.integer({ min: 0, max: 255 }),
  kindName: awkward,
  at: fc.oneof(fc.integer({ min: 0, max: 2 ** 47 - 1 }), fc.constant(1_764_000_000_000)),
  ref: fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
    awkward,
  ),
  units: fc.oneof(integer, fc.double({ noNaN: true, noDefaultInfinity: true })),
  bal: integer,
  extra: fc.array(
    fc.tuple(
      fc.oneof(fc.integer({ min: 0, max: 9 }), awkward),
      fc.oneof(
        awkward,
        // Plain text (a feature, a month), what writePlainExtra writes straight from the bytes:
        // fixstr below 32 bytes, str8 below 256, str16 beyond.
        fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
        fc.stringMatching(/^[a-z0-9 .:-]{30,300}$/),
        integer,
        fc.constant(null),
      ),
    ),
    { maxLength: 4 },
  ),
});
const streamId = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 47 }), fc.integer({ min: 0, max: 2 ** 31 }))
  .map(([ms, seq]) => Buffer.from(`${ms}-${seq}`));
/** An entry of the format before compact values: field/value pairs. */
const older = fc
  .record({ at: integer, units: integer, ref: awkward, reason: awkward })
  .map((o) =>
    [
      'at',
      String(o.at),
      'type',
      'grant',
      'kind',
      'prepaid',
      'units',
      String(o.units),
      'bal',
      '0',
      'ref',
      o.ref,
    ]
      .concat(o.reason ? ['reason', o.reason] : [])
      .map((s) => Buffer.from(s)),
  );
const entry: fc.Arbitrary<RawEntry> = fc.tuple(
  streamId,
  fc.oneof(
    { weight: 4, arbitrary: compact.map((c) => [Buffer.from('p'), compactValue(c)]) },
    { weight: 1, arbitrary: older },
  ),
);

/** A usage debit out of the flex pool, as the debit script writes one. */
const debit: Compact = {
  typeCode: 1,
  typeName: '',
  kindCode: 3,
  kindName: '',
  at: 1_764_000_000_123,
  ref: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
  units: -2_500,
  bal: 97_500,
  extra: [],
};

describe("a round's COPY text (R-CON-7)", () => {
  it("is byte for byte each entry's row as text, whatever the entries hold", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(awkward, fc.array(entry, { maxLength: 6 })), { minLength: 1, maxLength: 5 }),
        (rounds) => {
          const copy = new CopyText(1);
          for (const [ws, page] of rounds) copy.add(ws, page);
          const expected = rounds.flatMap(([ws, page]) => page.map((e) => rowCopy(copyEscape(ws), e)));
          // Bytes, not text: a byte the line would not have shows even where UTF-8 cannot decode it.
          expect(copy.bytes.equals(Buffer.from(expected.join('')))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes a usage debit as the line PostgreSQL reads', () => {
    const value = compactValue({
      ...debit,
      extra: [
        [4, '2026-11'],
        ['feature', 'tab\there'],
      ],
    });
    const copy = new CopyText(1);
    copy.add('ws\\1', [[Buffer.from('1764000000123-7'), [Buffer.from('p'), value]]]);
    expect(copy.bytes.toString()).toBe(
      'ws\\\\1\t1764000000123\t7\t1764000000123\tconsume\tflex\t-2500\t97500\t' +
        'use_00112233445566778899aabbccddeeff\t{"month":"2026-11","feature":"tab\\\\there"}\n',
    );
  });
  it('writes plain extra fields straight into their JSON, of every string length, the last of a name winning', () => {
    const line = (extra: Compact['extra']) => {
      const copy = new CopyText(1);
      const value = compactValue({ ...debit, extra });
      copy.add('ws', [[Buffer.from('5-0'), [Buffer.from('p'), value]]]);
      return copy.bytes.toString().split('\t').at(-1);
    };
    expect(
      line([
        [2, 'api-call'],
        [4, '2026-11'],
      ]),
    ).toBe('{"feature":"api-call","month":"2026-11"}\n');
    expect(line([[6, 'r'.repeat(40)]])).toBe(`{"reason":"${'r'.repeat(40)}"}\n`);
    expect(line([[6, 'x'.repeat(300)]])).toBe(`{"reason":"${'x'.repeat(300)}"}\n`);
    // A name twice: as an object holds it (where it came first, with its last value).
    expect(
      line([
        [2, 'a'],
        [4, 'm'],
        [2, 'b'],
      ]),
    ).toBe('{"feature":"b","month":"m"}\n');
  });

  it('adds none of a page whose entry cannot be read, and says so', () => {
    const copy = new CopyText(1);
    copy.add('ws', [[Buffer.from('5-0'), [Buffer.from('p'), compactValue(debit)]]]);
    const before = Buffer.from(copy.bytes);
    // A usage debit's value cut off after its ref: no units, no balance.
    const cut = compactValue(debit).subarray(0, 24);
    expect(() =>
      copy.add('ws', [
        [Buffer.from('6-0'), [Buffer.from('p'), compactValue(debit)]],
        [Buffer.from('7-0'), [Buffer.from('p'), cut]],
      ]),
    ).toThrow(/MessagePack/);
    expect(copy.bytes.equals(before)).toBe(true);
  });
});

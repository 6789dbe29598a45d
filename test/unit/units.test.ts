/** R-UNIT-1, R-UNIT-2: credits and prices as integers of a fixed sub-unit, never floats. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  centsForUnits,
  floorToWholeCredits,
  formatUnits,
  parseDecimal4,
  unitsForCents,
} from '../../src/domain/units.js';

describe('R-UNIT-1 credit amounts', () => {
  it.each([
    ['0.37', 3_700],
    [0.37, 3_700],
    ['77.7', 777_000],
    ['1', 10_000],
    ['0.0001', 1],
    [' 12.5 ', 125_000],
    ['-2.25', -22_500],
  ])('parses %j as %i units', (input, units) => {
    expect(parseDecimal4(input)).toBe(units);
  });

  it.each(['1.00001', 'NaN', 'Infinity', '1e3', '', '.5', '5.', '1,5', '0x10', '--1'])(
    'refuses %j',
    (input) => {
      expect(parseDecimal4(input)).toBeNull();
    },
  );

  it.each([Number.NaN, Number.POSITIVE_INFINITY, 1e21, 0.123456])('refuses the number %d', (n) => {
    expect(parseDecimal4(n)).toBeNull();
  });

  it('formats back without trailing zeros, and round-trips every 4-decimal amount', () => {
    expect(formatUnits(777_000)).toBe('77.7');
    expect(formatUnits(-1)).toBe('-0.0001');
    expect(formatUnits(0)).toBe('0');
    fc.assert(
      fc.property(fc.integer({ min: -1e13, max: 1e13 }), (units) => {
        expect(parseDecimal4(formatUnits(units))).toBe(units);
      }),
    );
  });
});

describe('R-UNIT-2 money', () => {
  it('R-FLX-2 turns a dollar cap into flex units exactly, rounding down', () => {
    expect(unitsForCents(10_000, 4_000_000)).toBe(250_000); // $100 at $4.00 = 25 credits
    expect(unitsForCents(101, 4_000_000)).toBe(2_525);
    expect(unitsForCents(100, 3_000_000)).toBe(3_333); // $1 at $3.00 = 0.3333 credits
    // Beyond 2^53 in the middle of the computation.
    expect(unitsForCents(1_000_000_000, 1)).toBe(1e17);
  });

  it('prices units in whole cents, rounding down', () => {
    expect(centsForUnits(777_000, 4_000_000)).toBe(31_080);
    expect(centsForUnits(1, 4_000_000)).toBe(0);
    expect(centsForUnits(3, 3_685_000)).toBe(0);
  });

  it('R-FLX-5 rounds flex down to whole credits: 77.7 → 77', () => {
    expect(floorToWholeCredits(777_000)).toBe(77);
    expect(floorToWholeCredits(9_999)).toBe(0);
  });
});

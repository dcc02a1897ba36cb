/**
 * The checksum replays a MySQL replica to the primary's locked position; a replica that applied
 * transactions beyond it (not there when it was stopped) ran past, and its checksums say nothing.
 */
import { describe, expect, it } from 'vitest';
import { ranPastPosition } from '../../../functions/operations/checksum.js';

const P = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const R = '4f22ab58-82db-22f2-af44-d91bb0530673';

describe('ranPastPosition', () => {
  it('is false for a replica stopped exactly at the position', () => {
    expect(ranPastPosition(`${P}:1-10`, `${P}:1-20`, `${P}:1-20`)).toBe(false);
  });

  it('is true for a replica that applied a transaction beyond the position', () => {
    expect(ranPastPosition(`${P}:1-10`, `${P}:1-21`, `${P}:1-20`)).toBe(true);
  });

  it("does not count the replica's own transactions it already had when stopped", () => {
    expect(ranPastPosition(`${P}:1-10,${R}:1-3`, `${P}:1-20,${R}:1-3`, `${P}:1-20`)).toBe(false);
  });

  it('is false when a set cannot be read (nothing to conclude)', () => {
    expect(ranPastPosition('', 'not a set', `${P}:1-20`)).toBe(false);
  });
});

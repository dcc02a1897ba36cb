/**
 * Golden tests: every snapshot in test/fixtures/snapshots (most captured from the real cluster by
 * test/integration/analysis.test.ts with CAPTURE_SNAPSHOTS=1; the MySQL ones derived from them, since
 * MySQL servers cannot run here) must give the analysis in its `.expected.json` file. The file name
 * starts with the expected code. UPDATE_GOLDEN=1 rewrites the expected files (review the diff!).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ANALYSIS_CODES,
  type Analysis,
  type AnalyzeOptions,
  analyze,
} from '../../../functions/core/analysis.js';
import { hydrateSnapshot, type Snapshot } from '../../../functions/core/snapshot.js';

const dir = join(import.meta.dirname, '../../fixtures/snapshots');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json') && !f.endsWith('.options.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

function load(name: string): Snapshot {
  return hydrateSnapshot(JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Snapshot);
}

/** `<name>.options.json`: the analysis options of the capture (a group's own view), if any. */
function optionsOf(name: string): AnalyzeOptions {
  const path = join(dir, `${name}.options.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as AnalyzeOptions) : {};
}

/** The parts of an analysis a golden file pins (evidence text may be reworded without a golden change). */
function pinned(a: Analysis) {
  return {
    code: a.code,
    primary: a.primary,
    candidate: a.candidate,
    oldPrimary: a.oldPrimary,
    affected: a.affected,
    errant: a.errant.map((e) => ({ server: e.server, missingOn: e.missingOn, gtids: e.gtids })),
    routers: a.routers,
    also: a.also,
  };
}

describe('golden snapshots', () => {
  it('cover every analysis code at least once', () => {
    const covered = new Set(names.map((n) => n.split('.')[0]));
    expect(ANALYSIS_CODES.filter((c) => !covered.has(c))).toEqual([]);
  });

  it.each(names)('%s gives its expected analysis', (name) => {
    const analysis = analyze(load(name), optionsOf(name));
    const expectedPath = join(dir, `${name}.expected.json`);
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(expectedPath)) {
      if (process.env.UPDATE_GOLDEN !== '1')
        throw new Error(`missing ${expectedPath} (run with UPDATE_GOLDEN=1)`);
      writeFileSync(expectedPath, `${JSON.stringify(pinned(analysis), null, 2)}\n`);
    }
    const expected = JSON.parse(readFileSync(expectedPath, 'utf8')) as ReturnType<typeof pinned>;
    expect(analysis.code).toBe(name.split('.')[0]);
    expect(pinned(analysis)).toEqual(expected);
    expect(analysis.description.length).toBeGreaterThan(0);
    expect(analysis.evidence.length).toBeGreaterThan(0);
  });

  it('gives the same analysis for the same snapshot (pure, no clock)', () => {
    for (const name of names)
      expect(analyze(load(name), optionsOf(name))).toEqual(analyze(load(name), optionsOf(name)));
  });
});

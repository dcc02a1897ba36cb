#!/usr/bin/env node
// Bundles the Lambda handler the way serverless-esbuild does for deployment (the same options, from
// scripts/esbuild-options.mjs), into dist/watchdog.mjs: used by benchmarks and smoke tests.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';
import { bundleOptions } from './esbuild-options.mjs';

export const BUNDLE = 'dist/watchdog.mjs';

/**
 * Builds the handler into `outfile`'s folder (the entry plus its chunks). `bytes` is the size of all
 * the JavaScript the deployment ships (entry and chunks, not source maps); `entryBytes` is what a
 * cold start compiles before the first check.
 */
export async function buildBundle(outfile = BUNDLE) {
  const outdir = dirname(outfile);
  rmSync(`${outdir}/chunks`, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { [outfile.slice(outdir.length + 1).replace(/\.mjs$/, '')]: 'functions/watchdog.ts' },
    outdir,
    outExtension: { '.js': '.mjs' },
    ...bundleOptions,
    metafile: true,
    logLevel: 'warning',
  });
  const js = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.mjs'));
  const bytes = js.reduce((sum, f) => sum + statSync(f).size, 0);
  return { outfile, bytes, entryBytes: statSync(outfile).size, files: js.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { outfile, bytes, entryBytes, files } = await buildBundle(process.argv[2]);
  console.log(`${outfile}: ${bytes} bytes in ${files} files (entry ${entryBytes} bytes)`);
}

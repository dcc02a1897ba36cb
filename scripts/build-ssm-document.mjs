#!/usr/bin/env node
// Builds the RouterSwitch SSM Command document (infra/ssm/router-switch.json) from the router script
// files (infra/ssm/router-switch.sh and infra/ssm/router-kinds/*.sh, the single source of truth) and the
// parameter patterns exported by
// functions/routers/parameters.ts. `--check` only compares and exits 1 when the committed document is stale.
//   node scripts/build-ssm-document.mjs [--check]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { tsImport } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildRouterSwitchDocument, renderDocumentJson, validateCommandDocument } = await tsImport(
  '../functions/routers/ssm-document.ts',
  import.meta.url,
);
const { readRouterScriptFiles } = await tsImport('../functions/routers/script-files.ts', import.meta.url);

const documentPath = join(root, 'infra/ssm/router-switch.json');
const document = buildRouterSwitchDocument(readRouterScriptFiles(join(root, 'infra/ssm')));
const problems = validateCommandDocument(document);
if (problems.length > 0) {
  console.error(`build-ssm-document: the document is invalid:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const text = renderDocumentJson(document);
if (process.argv.includes('--check')) {
  // Compared as data: the file's layout is the formatter's business (biome formats JSON too).
  let current = null;
  try {
    current = JSON.parse(readFileSync(documentPath, 'utf8'));
  } catch {}
  if (!isDeepStrictEqual(current, document)) {
    console.error(
      'build-ssm-document: infra/ssm/router-switch.json is stale; run node scripts/build-ssm-document.mjs',
    );
    process.exit(1);
  }
  console.log('build-ssm-document: infra/ssm/router-switch.json is up to date');
} else {
  writeFileSync(documentPath, text);
  // Leave the file as the project's formatter wants it, so `biome check .` stays clean.
  const biome = join(root, 'node_modules/.bin/biome');
  if (existsSync(biome)) execFileSync(biome, ['format', '--write', documentPath], { stdio: 'ignore' });
  console.log(`build-ssm-document: wrote ${documentPath}`);
}

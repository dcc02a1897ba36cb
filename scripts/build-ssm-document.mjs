#!/usr/bin/env node
// Builds the RouterSwitch SSM Command documents, one per router kind (infra/ssm/router-switch-<kind>.json),
// from the router script files (infra/ssm/router-switch.sh and infra/ssm/router-kinds/<kind>.sh, the single
// source of truth) and the parameter patterns exported by functions/routers/parameters.ts. `--check` only
// compares and exits 1 when a committed document is stale, missing, or left over from a removed kind.
//   node scripts/build-ssm-document.mjs [--check]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { tsImport } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const {
  buildRouterSwitchDocument,
  documentFileName,
  renderDocumentJson,
  scriptKinds,
  validateCommandDocument,
} = await tsImport('../functions/routers/ssm-document.ts', import.meta.url);
const { readRouterScriptFiles } = await tsImport('../functions/routers/script-files.ts', import.meta.url);

const ssmDir = join(root, 'infra/ssm');
const files = readRouterScriptFiles(ssmDir);
const kinds = scriptKinds(files);
const check = process.argv.includes('--check');
let stale = false;
for (const kind of kinds) {
  const documentPath = join(ssmDir, documentFileName(kind));
  const document = buildRouterSwitchDocument(files, kind);
  const problems = validateCommandDocument(document);
  if (problems.length > 0) {
    console.error(`build-ssm-document: the ${kind} document is invalid:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  if (check) {
    // Compared as data: the file's layout is the formatter's business (biome formats JSON too).
    let current = null;
    try {
      current = JSON.parse(readFileSync(documentPath, 'utf8'));
    } catch {}
    if (!isDeepStrictEqual(current, document)) {
      console.error(`build-ssm-document: ${documentPath} is stale; run node scripts/build-ssm-document.mjs`);
      stale = true;
    }
  } else {
    writeFileSync(documentPath, renderDocumentJson(document));
    // Leave the file as the project's formatter wants it, so `biome check .` stays clean.
    const biome = join(root, 'node_modules/.bin/biome');
    if (existsSync(biome)) execFileSync(biome, ['format', '--write', documentPath], { stdio: 'ignore' });
    console.log(`build-ssm-document: wrote ${documentPath}`);
  }
}
const expected = new Set(kinds.map(documentFileName));
for (const name of readdirSync(ssmDir)) {
  if (/^router-switch.*\.json$/.test(name) && !expected.has(name)) {
    console.error(`build-ssm-document: ${name} belongs to no router kind; remove it`);
    stale = true;
  }
}
if (stale) process.exit(1);
if (check) console.log(`build-ssm-document: ${kinds.map(documentFileName).join(', ')} are up to date`);

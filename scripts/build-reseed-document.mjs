#!/usr/bin/env node
// Builds the PhysicalReseed SSM Command document (infra/ssm/physical-reseed.json) from the host script and
// its helper (infra/ssm/reseed/, the single source of truth). `--check` only compares and exits 1 when
// the committed document is stale.
//   node scripts/build-reseed-document.mjs [--check]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { tsImport } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildPhysicalReseedDocument, renderDocumentJson, validateCommandDocument } = await tsImport(
  '../functions/operations/physical/document.ts',
  import.meta.url,
);
const documentPath = join(root, 'infra/ssm/physical-reseed.json');
const document = buildPhysicalReseedDocument(
  readFileSync(join(root, 'infra/ssm/reseed/reseed.sh'), 'utf8'),
  readFileSync(join(root, 'infra/ssm/reseed/object-stream.py'), 'utf8'),
);
const problems = validateCommandDocument(document);
if (problems.length > 0) {
  console.error(`build-reseed-document: the document is invalid:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
if (process.argv.includes('--check')) {
  let current = null;
  try {
    current = JSON.parse(readFileSync(documentPath, 'utf8'));
  } catch {}
  if (!isDeepStrictEqual(current, document)) {
    console.error('build-reseed-document: infra/ssm/physical-reseed.json is stale; run npm run build:ssm');
    process.exit(1);
  }
  console.log('build-reseed-document: infra/ssm/physical-reseed.json is up to date');
} else {
  writeFileSync(documentPath, renderDocumentJson(document));
  const biome = join(root, 'node_modules/.bin/biome');
  if (existsSync(biome)) execFileSync(biome, ['format', '--write', documentPath], { stdio: 'ignore' });
  console.log(`build-reseed-document: wrote ${documentPath}`);
}

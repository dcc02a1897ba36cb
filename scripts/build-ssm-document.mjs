#!/usr/bin/env node
// Builds the RouterSwitch SSM Command document (infra/ssm/router-switch.yml) from the router script
// (infra/ssm/router-switch.sh, the single source of truth) and the parameter patterns exported by
// functions/routers/parameters.ts. `--check` only compares and exits 1 when the committed document is stale.
//   node scripts/build-ssm-document.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildRouterSwitchDocument, validateCommandDocument } = await tsImport(
  '../functions/routers/ssm-document.ts',
  import.meta.url,
);
const { renderDocumentYaml } = await tsImport('../functions/routers/ssm-document-yaml.ts', import.meta.url);

const scriptPath = join(root, 'infra/ssm/router-switch.sh');
const documentPath = join(root, 'infra/ssm/router-switch.yml');
const document = buildRouterSwitchDocument(readFileSync(scriptPath, 'utf8'));
const problems = validateCommandDocument(document);
if (problems.length > 0) {
  console.error(`build-ssm-document: the document is invalid:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const text = renderDocumentYaml(document);
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(documentPath, 'utf8');
  } catch {}
  if (current !== text) {
    console.error(
      'build-ssm-document: infra/ssm/router-switch.yml is stale; run node scripts/build-ssm-document.mjs',
    );
    process.exit(1);
  }
  console.log('build-ssm-document: infra/ssm/router-switch.yml is up to date');
} else {
  writeFileSync(documentPath, text);
  console.log(`build-ssm-document: wrote ${documentPath}`);
}

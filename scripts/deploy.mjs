#!/usr/bin/env node
// `npm run deploy -- --stage <stage> [--region <region>] [other osls deploy options]`
// Deploys deploy/<stage>.yml (or DEPLOY_CONFIG) with osls. Refuses to run without an explicit stage, and
// refuses the sample stage: its ids are placeholders and would only produce a failed stack.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

function optionValue(names) {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    for (const name of names) {
      if (arg === name) return args[i + 1];
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

const stage = optionValue(['--stage', '-s']);
if (!stage) {
  console.error('deploy: pass the stage: npm run deploy -- --stage <stage>  (reads deploy/<stage>.yml)');
  process.exit(2);
}
if (stage === 'sample') {
  console.error(
    'deploy: deploy/sample.yml holds placeholder ids; copy it to deploy/<stage>.yml and deploy that stage',
  );
  process.exit(2);
}
const config = process.env.DEPLOY_CONFIG ?? join('deploy', `${stage}.yml`);
if (!existsSync(resolve(root, config))) {
  console.error(`deploy: ${config} not found; copy deploy/sample.yml to it and fill in your ids`);
  process.exit(2);
}

const require = createRequire(import.meta.url);
const osls = require.resolve('osls/bin/serverless.js');
const result = spawnSync(process.execPath, [osls, 'deploy', ...args], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);

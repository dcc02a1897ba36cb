/**
 * The router script files on disk (Node only): the common part infra/ssm/router-switch.sh and one file
 * per router kind under infra/ssm/router-kinds/. The local adapter runs them; the document build embeds
 * them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMON_SCRIPT, type RouterScriptFiles } from './ssm-document.js';

export const ROUTER_SCRIPT_DIR = fileURLToPath(new URL('../../infra/ssm/', import.meta.url));
export const ROUTER_SCRIPT_PATH = join(ROUTER_SCRIPT_DIR, COMMON_SCRIPT);

/** Every router script file, by its path under infra/ssm. */
export function readRouterScriptFiles(dir: string = ROUTER_SCRIPT_DIR): RouterScriptFiles {
  const files: Record<string, string> = { [COMMON_SCRIPT]: readFileSync(join(dir, COMMON_SCRIPT), 'utf8') };
  for (const name of readdirSync(join(dir, 'router-kinds')).sort()) {
    if (name.endsWith('.sh'))
      files[`router-kinds/${name}`] = readFileSync(join(dir, 'router-kinds', name), 'utf8');
  }
  return files;
}

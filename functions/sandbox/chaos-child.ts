/**
 * One watchdog run in a process of its own, for the chaos loop's "operation master killed" fault:
 * `node bin/run-ts.mjs functions/sandbox/chaos-child.ts CONFIG.json GROUP`. Prints `started` when the
 * cycle begins and the report as one JSON line when it ends; the loop SIGKILLs it at a random moment.
 * It exits only once the report has drained into the pipe (a report is often bigger than its buffer).
 */
import { readFileSync } from 'node:fs';
import { parseConfig } from '../config/schema.js';
import { runCycle } from '../operations/cycle.js';
import { exitAfterOutput } from './child-output.js';
import { sandboxRouterSwitch } from './drill.js';

const [configPath, group] = process.argv.slice(2);
if (!configPath || !group) {
  process.stderr.write('usage: chaos-child.ts CONFIG.json GROUP\n');
  exitAfterOutput(2);
} else {
  await run(configPath, group);
}

async function run(configPath: string, group: string): Promise<void> {
  const config = parseConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath);
  process.stdout.write('started\n');
  const report = await runCycle(
    config,
    {
      trigger: 'alarm',
      action: 'check',
      group,
      dryRun: false,
      force: false,
      alarm: { name: 'chaos', state: 'ALARM' },
    },
    { routers: sandboxRouterSwitch(config) },
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
  exitAfterOutput(0);
}

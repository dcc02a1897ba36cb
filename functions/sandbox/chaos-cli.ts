/**
 * `npm run chaos -- --rounds N [--seed S] [--servers 2|3] [--round-timeout SECONDS] [--no-sysbench]
 *   [--only FAULT,FAULT] [--reports DIR] [--minutes M] [--production] [--flavor mariadb|mysql]
 *   [--routers haproxy|mysqlrouter]`
 *
 * Runs the chaos loop (functions/sandbox/chaos.ts) and ends with one JSON line of figures. Exit code 0
 * when no invariant was broken, 1 otherwise (each violation is printed, as a VIOLATION line, when found),
 * 3 when the loop's own plumbing failed (HARNESS ERROR lines; `harnessErrors` in the JSON line) and no
 * invariant was broken. A harness that cannot even start still ends with the JSON line, never a stack.
 * `--production`: every watchdog invocation runs the packaged bundle against the AWS stand-in
 * (functions/sandbox/production); the JSON line then carries "mode":"production" and "bundle":true.
 */
import { errorMessage } from '../errors.js';
import { type ChaosDetails, FAULTS, type Fault, runChaos } from './chaos.js';
import { exitAfterOutput } from './child-output.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const rounds = Number(arg('--rounds') ?? 5);
const seed = Number(arg('--seed') ?? Math.floor(Math.random() * 2 ** 31));
const servers = Number(arg('--servers') ?? 2);
const roundTimeoutS = Number(arg('--round-timeout') ?? 240);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed) || (servers !== 2 && servers !== 3)) {
  process.stderr.write(
    'usage: npm run chaos -- --rounds N [--seed S] [--servers 2|3] [--round-timeout S] [--no-sysbench]\n',
  );
  exitAfterOutput(2);
} else {
  await main();
}

async function main(): Promise<void> {
  const flavor = arg('--flavor') ?? 'mariadb';
  const routerKind = arg('--routers') ?? 'haproxy';
  if (
    (flavor !== 'mariadb' && flavor !== 'mysql') ||
    (routerKind !== 'haproxy' && routerKind !== 'mysqlrouter')
  ) {
    process.stderr.write('--flavor is mariadb or mysql; --routers is haproxy or mysqlrouter\n');
    exitAfterOutput(2);
    return;
  }
  const only = arg('--only')?.split(',') as Fault[] | undefined;
  const unknown = only?.filter((f) => !FAULTS.includes(f)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown fault(s) ${unknown.join(', ')}; faults: ${FAULTS.join(', ')}\n`);
    exitAfterOutput(2);
    return;
  }
  let details: ChaosDetails;
  try {
    details = await runChaos({
      rounds,
      seed,
      servers: servers === 3 ? 3 : 2,
      roundTimeoutS,
      flavor,
      routers: routerKind,
      ...(arg('--minutes') ? { minutes: Number(arg('--minutes')) } : {}),
      ...(only ? { only } : {}),
      ...(arg('--reports') ? { reportsDir: arg('--reports')! } : {}),
      ...(process.argv.includes('--no-sysbench') ? { sysbench: false } : {}),
      ...(process.argv.includes('--production') ? { production: true } : {}),
    });
  } catch (error) {
    // The cluster, the load or the checker could not run at all: the harness failed, not the watchdog.
    const message = errorMessage(error);
    process.stdout.write(`HARNESS ERROR the chaos loop could not run: ${message}\n`);
    process.stdout.write(
      `${JSON.stringify({ bench: 'chaos', seed, rounds: 0, violations: 0, harnessErrors: 1, harnessError: message })}\n`,
    );
    exitAfterOutput(3);
    return;
  }
  // Violations and harness errors were printed as they were found (VIOLATION, HARNESS ERROR lines).
  process.stdout.write(
    `seed ${details.seed}; acknowledged writes ${details.acknowledged} (${details.salvagedAckedWrites} of them only in salvage records); recovery per round (s): ${details.recoverS.map((s) => s.toFixed(1)).join(' ')}\n`,
  );
  process.stdout.write(`${JSON.stringify(details.result)}\n`);
  exitAfterOutput(details.result.violations > 0 ? 1 : details.result.harnessErrors > 0 ? 3 : 0);
}

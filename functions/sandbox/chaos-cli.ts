/**
 * `npm run chaos -- --rounds N [--seed S] [--servers 2|3] [--round-timeout SECONDS] [--no-sysbench]
 *   [--only FAULT,FAULT] [--reports DIR] [--minutes M]`
 *
 * Runs the chaos loop (functions/sandbox/chaos.ts) and ends with one JSON line of figures. Exit code 0
 * when no invariant was broken, 1 otherwise (each violation is printed, as a VIOLATION line, when found).
 */
import { FAULTS, type Fault, runChaos } from './chaos.js';

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
  process.exit(2);
}

const only = arg('--only')?.split(',') as Fault[] | undefined;
const unknown = only?.filter((f) => !FAULTS.includes(f)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`unknown fault(s) ${unknown.join(', ')}; faults: ${FAULTS.join(', ')}\n`);
  process.exit(2);
}

const details = await runChaos({
  rounds,
  seed,
  servers,
  roundTimeoutS,
  ...(arg('--minutes') ? { minutes: Number(arg('--minutes')) } : {}),
  ...(only ? { only } : {}),
  ...(arg('--reports') ? { reportsDir: arg('--reports')! } : {}),
  ...(process.argv.includes('--no-sysbench') ? { sysbench: false } : {}),
});
// Violations were printed as they were found (VIOLATION lines).
process.stdout.write(
  `seed ${details.seed}; acknowledged writes ${details.acknowledged} (${details.salvagedAckedWrites} of them only in salvage records); recovery per round (s): ${details.recoverS.map((s) => s.toFixed(1)).join(' ')}\n`,
);
process.stdout.write(`${JSON.stringify(details.result)}\n`);
process.exit(details.result.violations === 0 ? 0 : 1);

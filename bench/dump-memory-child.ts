/**
 * Child process of bench/dump-memory.ts: dumps one schema to the local S3 endpoint and restores it into
 * a target, then prints its peak RSS as one JSON line. Run in its own process so the figure is the
 * dump's and restore's alone (node bin/run-ts.mjs bench/dump-memory-child.ts '<json config>'). It ends
 * by itself once its output is written (no process.exit that could cut it).
 */
import { dumpDatabase } from '../functions/dump/dump.js';
import { restoreDump } from '../functions/dump/restore.js';
import { openObjectStore } from '../functions/storage/open-store.js';

interface ChildConfig {
  source: { host: string; port: number; user: string; password: string };
  target: { host: string; port: number; user: string; password: string };
  url: string;
  storeOptions: Parameters<typeof openObjectStore>[1];
  schema: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const store = openObjectStore(config.url, config.storeOptions);
const dump = await dumpDatabase({ source: config.source, store, schemas: [config.schema], chunkRows: 1e9 });
const restored = await restoreDump({ target: config.target, store, replace: true, setGtid: false });
process.stdout.write(
  `${JSON.stringify({
    rows: restored.summary.rows,
    bytes: dump.manifest.totals.bytes,
    objects: dump.manifest.objects.length,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
);

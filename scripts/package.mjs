#!/usr/bin/env node
// Packaging measurements (`npm run package:cold-start`): is the AWS SDK v3 better bundled, or taken from
// the Lambda runtime? Builds the handler twice with the esbuild options of serverless.yml — once with
// everything bundled, once with `@aws-sdk/*` external (resolved from node_modules, as the runtime's
// copy would be) — and starts each in fresh node processes, alternately. Each process imports the
// bundle and invokes the handler once with a console `status` event; its configuration and credentials
// come from SSM and Secrets Manager, answered by a local HTTP stand-in, so the SDK clients are really
// constructed, sign a request and parse a response. The database servers in that configuration are
// closed local ports: both variants fail the same way, quickly. Prints medians; changes nothing.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.RUNS ?? 15);

/** The options serverless-esbuild packages with (serverless.yml -> infra/deployment/esbuild.config.cjs). */
function esbuildOptions() {
  const require = createRequire(import.meta.url);
  const { outputFileExtension, exclude, ...options } = require('../infra/deployment/esbuild.config.cjs')();
  return { ...options, entryPoints: [join(root, 'functions', 'watchdog.ts')], logLevel: 'error' };
}

async function closedPort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

/** Answers GetParametersByPath and GetSecretValue like the two services would. */
async function fakeAws(configDocument) {
  const server = createHttpServer((req, res) => {
    req.resume(); // the operation is in the X-Amz-Target header; the body is not needed
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target.endsWith('GetParametersByPath')) {
        res.end(
          JSON.stringify({
            Parameters: [{ Name: '/mf/config', Type: 'String', Value: JSON.stringify(configDocument) }],
          }),
        );
      } else if (target.endsWith('GetSecretValue')) {
        res.end(
          JSON.stringify({ Name: 'x', SecretString: JSON.stringify({ username: 'mf', password: 'pw' }) }),
        );
      } else {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: target }));
      }
    });
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

const CHILD = `
const t0 = performance.now();
const { handler } = await import(process.env.BUNDLE);
const t1 = performance.now();
const context = { functionName: 'cold-start', awsRequestId: 'cold', getRemainingTimeInMillis: () => 900000 };
const result = await handler({ action: 'status' }, context);
const t2 = performance.now();
process.stderr.write('COLD ' + JSON.stringify({ importMs: t1 - t0, invokeMs: t2 - t1, ok: result.ok,
  code: result.error?.code ?? result.report?.error?.code ?? null, rssKiB: process.resourceUsage().maxRSS,
  cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000 }) + '\\n', () => process.exit(0));
`;

function runOnce(bundle, cwd, env, nodeOptions) {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...nodeOptions, '--input-type=module', '-e', CHILD], {
      cwd,
      env: { PATH: process.env.PATH, BUNDLE: bundle, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // 'close', not 'exit': the child's last line is read by then.
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      const line = stderr.split('\n').find((l) => l.startsWith('COLD '));
      if (code !== 0 || !line) return fail(new Error(`child exited ${code}: ${stderr}`));
      done({ ...JSON.parse(line.slice(5)), wallMs });
    });
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function coldStart() {
  const work = mkdtempSync(join(tmpdir(), 'mf-cold-'));
  try {
    const options = esbuildOptions();
    const bundled = join(work, 'bundled', 'watchdog.mjs');
    const external = join(work, 'external', 'watchdog.mjs');
    const entry = { entryPoints: { watchdog: options.entryPoints?.[0] ?? 'functions/watchdog.ts' } };
    await build({ ...options, ...entry, outdir: dirname(bundled), outExtension: { '.js': '.mjs' } });
    await build({
      ...options,
      ...entry,
      outdir: dirname(external),
      outExtension: { '.js': '.mjs' },
      external: ['@aws-sdk/*'],
    });
    // The external variant resolves the SDK from node_modules, as it would from the runtime's copy.
    symlinkSync(join(root, 'node_modules'), join(work, 'external', 'node_modules'));
    mkdirSync(join(work, 'bundled', 'node_modules'));

    const config = {
      clusterName: 'coldstart',
      servers: [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`],
      groups: [{ name: 'g1', routerKind: 'haproxy', routers: [`127.0.0.1:${await closedPort()}`] }],
      timeouts: { connectMs: 200, queryMs: 500 },
    };
    const aws = await fakeAws(config);
    const env = {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDCOLDSTART',
      AWS_SECRET_ACCESS_KEY: 'cold-start-secret',
      AWS_SESSION_TOKEN: 'cold-start-token',
      AWS_ENDPOINT_URL_SSM: aws.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      CONFIG_SSM_PATH: '/mf',
      DB_SECRET_ARN: 'mf/watchdog',
      GROUP: 'g1',
      POWERTOOLS_SERVICE_NAME: 'mysql-failover',
      METRICS_NAMESPACE: 'MysqlFailover',
    };
    // Like for like without source maps; then the bundle again with --enable-source-maps, whose
    // cost decides whether the function turns it on.
    const variants = [
      { name: 'SDK bundled', file: bundled, node: [], runs: [] },
      { name: 'SDK from node_modules', file: external, node: [], runs: [] },
      { name: 'SDK bundled, maps on', file: bundled, node: ['--enable-source-maps'], runs: [] },
    ];
    try {
      for (let i = 0; i < RUNS; i++) {
        for (const v of variants) v.runs.push(await runOnce(v.file, dirname(v.file), env, v.node));
      }
    } finally {
      aws.server.close();
    }
    // The entry and its chunks (every .mjs under the variant's folder), without source maps.
    const size = (file) =>
      readdirSync(dirname(file), { recursive: true })
        .filter((f) => String(f).endsWith('.mjs') && !String(f).startsWith('node_modules'))
        .reduce((sum, f) => sum + statSync(join(dirname(file), String(f))).size, 0);
    const load = loadavg()[0].toFixed(1);
    console.log(
      `cold start, ${RUNS} fresh node ${process.version} processes per variant, medians (load ${load}):`,
    );
    console.log(
      'variant                bundle KiB  import ms  first invoke ms  wall ms  CPU ms (process)  peak RSS MiB',
    );
    for (const v of variants) {
      const r = v.runs;
      console.log(
        [
          v.name.padEnd(22),
          String(Math.round(size(v.file) / 1024)).padStart(10),
          median(r.map((x) => x.importMs))
            .toFixed(0)
            .padStart(10),
          median(r.map((x) => x.invokeMs))
            .toFixed(0)
            .padStart(16),
          median(r.map((x) => x.wallMs))
            .toFixed(0)
            .padStart(8),
          median(r.map((x) => x.cpuMs))
            .toFixed(0)
            .padStart(17),
          (median(r.map((x) => x.rssKiB)) / 1024).toFixed(0).padStart(13),
        ].join(' '),
      );
    }
    const first = variants[0].runs[0];
    console.log(
      `(handler outcome: ok=${first.ok}, error code=${first.code}: the servers are closed ports on purpose)`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const command = process.argv[2];
if (command === 'cold-start') {
  await coldStart();
} else {
  console.error('usage: node scripts/package.mjs cold-start   (measure the bundle with and without the SDK)');
  process.exit(2);
}

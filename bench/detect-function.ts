/**
 * One group's "Lambda function" for bench:detect: a warm container of the watchdog handler
 * (functions/watchdog.ts) that runs the events it is given one at a time, as Lambda does for a function
 * with reserved concurrency 1 (asynchronous events wait in Lambda's queue). Events arrive as JSON lines
 * on stdin; each result goes to fd 3 as one JSON line; the handler's own log goes to stdout.
 */
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Context } from 'aws-lambda';
import { handler } from '../functions/watchdog.js';

const results = createWriteStream('', { fd: 3 });
const context = {
  functionName: `bench-detect-${process.env.GROUP}`,
  functionVersion: '$LATEST',
  memoryLimitInMB: '1769',
  awsRequestId: 'bench-detect',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bench-detect',
  logGroupName: '/aws/lambda/bench-detect',
  logStreamName: 'bench',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => 900_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
} as unknown as Context;

interface Envelope {
  id: number;
  event: unknown;
}

const queue: Envelope[] = [];
let running = false;
let closed = false;

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  while (queue.length > 0) {
    const { id, event } = queue.shift()!;
    const startMs = Date.now();
    let line: Record<string, unknown>;
    try {
      const result = (await handler(event, context)) as {
        ok: boolean;
        skipped?: string;
        report?: {
          analysis?: { code?: string };
          operation?: {
            operation?: string | null;
            role?: string;
            salvage?: { transactions: { rows?: { values: string[] }[] }[] }[];
          };
        };
        error?: { message?: string };
      };
      const salvaged = (result.report?.operation?.salvage ?? []).flatMap((s) =>
        s.transactions.flatMap((t) => (t.rows ?? []).flatMap((r) => r.values)),
      );
      line = {
        id,
        startMs,
        endMs: Date.now(),
        ok: result.ok,
        skipped: result.skipped ?? null,
        code: result.report?.analysis?.code ?? null,
        operation: result.report?.operation
          ? `${result.report.operation.operation} (${result.report.operation.role})`
          : null,
        error: result.error?.message ?? null,
        salvaged,
      };
    } catch (error) {
      line = { id, startMs, endMs: Date.now(), ok: false, error: (error as Error).message, salvaged: [] };
    }
    results.write(`${JSON.stringify(line)}\n`);
  }
  running = false;
  if (closed) results.end();
}

const input = createInterface({ input: process.stdin });
input.on('line', (text) => {
  queue.push(JSON.parse(text) as Envelope);
  void drain();
});
input.on('close', () => {
  closed = true;
  if (!running) results.end();
});
// The results stream ends once the last event ran; exit only after it is flushed.
results.on('finish', () => process.exit(0));

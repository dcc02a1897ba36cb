/**
 * A local stand-in for the EventBridge API, for the watcher's tests and the detection benchmark:
 * EventBridge has no local server, and the watcher on a backend talks to it over HTTPS with a SigV4
 * signature made by curl. This serves `AWSEvents.PutEvents` (JSON 1.1) on loopback, checks the
 * signature like AWS does (so a request AWS would refuse is refused here too), wraps each entry in the
 * envelope EventBridge delivers, matches it against the rules (the event patterns the stack deploys)
 * and hands it to each matching rule's target.
 *
 * Only what the watcher and the stack use: exact-value patterns (arrays of allowed values, nested
 * objects), one target per rule, named buses.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type EventPattern = { [key: string]: readonly (string | number | boolean)[] | EventPattern };

/** The envelope EventBridge delivers to a target. */
export interface EventBridgeEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

export interface EventRule {
  name: string;
  eventBusName: string;
  pattern: EventPattern;
  target: (event: EventBridgeEvent) => void;
}

export interface ReceivedEntry {
  atMs: number;
  eventBusName: string;
  event: EventBridgeEvent;
  matchedRules: string[];
}

export const STANDIN_ACCOUNT = '123456789012';

/** Does `value` satisfy `pattern` (EventBridge semantics for exact values and nested objects)? */
export function matchesPattern(pattern: EventPattern, value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  for (const [key, expected] of Object.entries(pattern)) {
    const actual = record[key];
    if (Array.isArray(expected)) {
      // An array in the event matches when any of its elements is allowed.
      const values = Array.isArray(actual) ? actual : [actual];
      if (!values.some((v) => (expected as readonly unknown[]).includes(v))) return false;
    } else if (!matchesPattern(expected as EventPattern, actual)) {
      return false;
    }
  }
  return true;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/**
 * Checks an AWS Signature Version 4 header for service `events`; returns why it is refused, or null.
 * The canonical request is rebuilt from the signed headers the client named, as AWS does.
 */
export function verifySigV4(
  request: { method: string; path: string; headers: Record<string, string | string[] | undefined> },
  body: Buffer,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  region: string,
): string | null {
  const auth = String(request.headers.authorization ?? '');
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return 'missing or malformed Authorization header';
  const [, keyId, day, signedRegion, service, signedHeaders, signature] = m as unknown as string[];
  if (keyId !== credentials.accessKeyId) return 'unknown access key';
  if (signedRegion !== region) return `signed for region ${signedRegion}, not ${region}`;
  if (service !== 'events') return `signed for service ${service}, not events`;
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(day!)) return 'x-amz-date does not match the credential scope';
  if (credentials.sessionToken && request.headers['x-amz-security-token'] !== credentials.sessionToken) {
    return 'missing or wrong x-amz-security-token';
  }
  const names = signedHeaders!.split(';');
  for (const required of ['host', 'x-amz-date']) {
    if (!names.includes(required)) return `${required} is not signed`;
  }
  if (credentials.sessionToken && !names.includes('x-amz-security-token')) {
    return 'x-amz-security-token is not signed';
  }
  const canonicalHeaders = names
    .map(
      (n) =>
        `${n}:${String(request.headers[n] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const [path, query = ''] = request.path.split('?');
  const canonical = [request.method, path, query, canonicalHeaders, signedHeaders, sha256(body)].join('\n');
  const scope = `${day}/${signedRegion}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day!);
  for (const part of [signedRegion!, service!, 'aws4_request']) key = hmac(key, part);
  const expected = hmac(key, toSign);
  const given = Buffer.from(signature!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? null
    : 'signature does not match';
}

interface PutEventsEntry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
}

export class EventBridgeStandIn {
  readonly received: ReceivedEntry[] = [];
  /** Requests refused (signature, shape), with the reason: a test can assert there were none. */
  readonly refused: string[] = [];
  readonly credentials = {
    accessKeyId: 'AKIASTANDIN0WATCHER0',
    secretAccessKey: 'standin/secret/key/for/the/watcher/tests0',
    sessionToken: 'standin-session-token',
  };
  private server: Server | undefined;
  private readonly rules: EventRule[] = [];
  private readonly waiters: Array<() => void> = [];

  constructor(readonly region = 'eu-west-1') {}

  addRule(rule: EventRule): void {
    this.rules.push(rule);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.serve(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.endpoint;
  }

  get endpoint(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new Error('the EventBridge stand-in is not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves when at least `count` entries have been received, or rejects after `timeoutMs`. */
  async waitForEntries(count: number, timeoutMs: number): Promise<ReceivedEntry[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `waited ${timeoutMs} ms for ${count} event(s), got ${this.received.length}` +
            (this.refused.length ? `; refused: ${this.refused.join('; ')}` : ''),
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received.slice();
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  private refuse(res: ServerResponse, status: number, type: string, message: string): void {
    this.refused.push(`${type}: ${message}`);
    this.reply(res, status, { __type: type, message });
  }

  /**
   * Answers one request (already read into `body`). Public so that another listener can serve the
   * EventBridge API on its own endpoint (the AWS stand-in, for the production mode's watchers).
   */
  serve(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
      this.refuse(
        res,
        400,
        'UnknownOperationException',
        `${req.method} ${String(req.headers['x-amz-target'])}`,
      );
      return;
    }
    const problem = verifySigV4(
      { method: req.method, path: req.url ?? '/', headers: req.headers },
      body,
      this.credentials,
      this.region,
    );
    if (problem) {
      this.refuse(res, 403, 'InvalidSignatureException', problem);
      return;
    }
    let entries: PutEventsEntry[];
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { Entries?: unknown };
      if (!Array.isArray(parsed.Entries) || parsed.Entries.length < 1 || parsed.Entries.length > 10) {
        throw new Error('Entries must hold 1 to 10 entries');
      }
      entries = parsed.Entries as PutEventsEntry[];
    } catch (error) {
      this.refuse(res, 400, 'ValidationException', (error as Error).message);
      return;
    }
    const results: Array<Record<string, string>> = [];
    let failed = 0;
    for (const entry of entries) {
      let detail: unknown;
      try {
        if (typeof entry.Source !== 'string' || typeof entry.DetailType !== 'string')
          throw new Error('Source and DetailType are required');
        detail = JSON.parse(String(entry.Detail));
        if (detail === null || typeof detail !== 'object' || Array.isArray(detail))
          throw new Error('Detail must be a JSON object');
      } catch (error) {
        failed++;
        results.push({ ErrorCode: 'MalformedDetail', ErrorMessage: (error as Error).message });
        continue;
      }
      const event: EventBridgeEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType as string,
        source: entry.Source as string,
        account: STANDIN_ACCOUNT,
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: this.region,
        resources: Array.isArray(entry.Resources) ? (entry.Resources as string[]) : [],
        detail,
      };
      const bus = typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default';
      const matched = this.rules.filter((r) => r.eventBusName === bus && matchesPattern(r.pattern, event));
      this.received.push({
        atMs: Date.now(),
        eventBusName: bus,
        event,
        matchedRules: matched.map((r) => r.name),
      });
      results.push({ EventId: event.id });
      for (const rule of matched) rule.target(structuredClone(event));
    }
    this.reply(res, 200, { FailedEntryCount: failed, Entries: results });
    for (const wake of this.waiters.splice(0)) wake();
  }
}

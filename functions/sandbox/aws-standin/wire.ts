/**
 * The wire formats of the few AWS calls the watchdog makes, as the SDK sends and parses them:
 *   awsJson1_1 (SSM, Secrets Manager): POST /, X-Amz-Target "<Service>.<Operation>", JSON in and out;
 *     an error is a 400 with {"__type": "<Code>", "message"} (x-amzn-ErrorType carries it too).
 *   awsQuery (SNS) and ec2Query (EC2): POST /, a form body with Action=...; XML answers; errors are
 *     <ErrorResponse><Error><Code> (query) or <Response><Errors><Error><Code> (EC2).
 *   restJson1 (Lambda Invoke): POST /2015-03-31/functions/<name>/invocations, the payload as the body.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export class AwsFault extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-requestid': randomUUID(),
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendJsonFault(res: ServerResponse, fault: AwsFault): void {
  const text = JSON.stringify({ __type: fault.code, message: fault.message });
  res.writeHead(fault.status, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-errortype': fault.code,
    'x-amzn-requestid': randomUUID(),
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function escapeXml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function sendXml(res: ServerResponse, xml: string, status = 200): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** awsQuery error (SNS). */
export function sendQueryFault(res: ServerResponse, fault: AwsFault): void {
  sendXml(
    res,
    `<ErrorResponse><Error><Type>Sender</Type><Code>${escapeXml(fault.code)}</Code><Message>${escapeXml(fault.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    fault.status,
  );
}

/** ec2Query error. */
export function sendEc2Fault(res: ServerResponse, fault: AwsFault): void {
  sendXml(
    res,
    `<Response><Errors><Error><Code>${escapeXml(fault.code)}</Code><Message>${escapeXml(fault.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
    fault.status,
  );
}

/** A query form body as a flat map (`Filter.1.Value.1` -> value). */
export function parseForm(body: string): Map<string, string> {
  return new Map(new URLSearchParams(body).entries());
}

/** The members of a query list: `prefix.1`, `prefix.2`, ... (1-based, contiguous). */
export function queryList(form: Map<string, string>, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; form.has(`${prefix}.${i}`); i++) out.push(form.get(`${prefix}.${i}`)!);
  return out;
}

/** Structured list members: indices i for which `prefix.i.<something>` exists. */
export function queryIndices(form: Map<string, string>, prefix: string): number[] {
  const out: number[] = [];
  for (let i = 1; [...form.keys()].some((k) => k.startsWith(`${prefix}.${i}.`)); i++) out.push(i);
  return out;
}

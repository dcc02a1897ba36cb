/**
 * Test helpers for CloudFormation templates: render intrinsic functions to plain strings (with the
 * account, region and partition filled in and references to resources shown as `<LogicalId>`), and
 * flatten IAM policies into statements.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type Template } from './packaged.js';

export const ACCOUNT = '111122223333';

export function render(value: unknown, region: string): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`cannot render ${JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  const pseudo: Record<string, string> = {
    'AWS::Region': region,
    'AWS::AccountId': ACCOUNT,
    'AWS::Partition': 'aws',
  };
  if (typeof record.Ref === 'string') return pseudo[record.Ref] ?? `<${record.Ref}>`;
  if (typeof record['Fn::Sub'] === 'string') {
    return record['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_, name: string) => pseudo[name] ?? `<${name}>`);
  }
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt)) {
    const [id, attribute] = getAtt as [string, string];
    // Bucket ARNs have no region or account: arn:aws:s3:::name.
    if (attribute === 'Arn' && id === 'DumpsBucket') return 'arn:aws:s3:::<DumpsBucket>';
    return `<${id}.${attribute}>`;
  }
  const join = record['Fn::Join'];
  if (Array.isArray(join)) {
    const [separator, parts] = join as [string, unknown[]];
    return parts.map((part) => render(part, region)).join(separator);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

export interface Statement {
  role: string;
  Sid?: string;
  Effect: string;
  Action: string[];
  Resource: unknown[];
  Condition?: Record<string, Record<string, unknown>>;
}

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every statement of every inline policy of every IAM role in the template. */
export function roleStatements(template: Template): Statement[] {
  const out: Statement[] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    const policies = (resource.Properties.Policies ?? []) as {
      PolicyDocument: { Statement: Record<string, unknown>[] };
    }[];
    for (const policy of policies) {
      for (const s of policy.PolicyDocument.Statement) {
        out.push({
          role: id,
          Sid: s.Sid as string | undefined,
          Effect: s.Effect as string,
          Action: list(s.Action as string | string[]),
          Resource: list(s.Resource as unknown),
          Condition: s.Condition as Statement['Condition'],
        });
      }
    }
  }
  return out;
}

/**
 * The actions docs/deployment.md lists as granted on `Resource: "*"`, with their reason: rows of the
 * table under the heading that mentions `Resource: "*"`.
 */
export function documentedWildcardActions(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');
  const start = text.search(/^#+ .*Resource: "\*"/m);
  if (start < 0) throw new Error('docs/deployment.md has no section about Resource: "*"');
  const rest = text.slice(start);
  const body = rest.indexOf('\n') + 1;
  const next = rest.slice(body).search(/^#+ /m);
  const section = next < 0 ? rest : rest.slice(0, body + next);
  const out = new Map<string, string>();
  for (const line of section.split('\n')) {
    const match = /^\|\s*`([a-z0-9-]+:[A-Za-z0-9]+)`\s*\|\s*(.+?)\s*\|/.exec(line);
    if (match) out.set(match[1]!, match[2]!);
  }
  return out;
}

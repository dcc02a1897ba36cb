/**
 * The operator's first contact with a deployed stage: the events/ samples and the documented
 * `aws lambda invoke` command. Each must work against the template `npm run package` builds from
 * deploy/sample.yml as it is: the sample's group, alarm, topic, server and router names, and the
 * rules of the template actually matching the trigger events.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseEvent } from '../../../functions/triggers/events.js';
import { type CfnResource, ensurePackaged, ROOT, readTemplate, type Template } from './packaged.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;

const sample = parse(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Json;
const groupNames: string[] = sample.groups.map((g: Json) => g.name);
const serverAddresses: string[] = sample.watchdog.servers.map((s: Json) => s.address);
const event = (name: string): Json => JSON.parse(readFileSync(join(ROOT, 'events', `${name}.json`), 'utf8'));
const eventFiles = readdirSync(join(ROOT, 'events'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''));

let template: Template;
beforeAll(() => {
  ensurePackaged();
  template = readTemplate();
}, 170_000);

const ofType = (type: string): [string, CfnResource][] =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

/** EventBridge's matching for the pattern forms the template uses: lists of values, nested objects. */
function matches(pattern: Json, value: Json): boolean {
  if (Array.isArray(pattern)) return pattern.includes(value);
  if (pattern && typeof pattern === 'object')
    return Object.entries(pattern).every(([k, p]) => value != null && matches(p, value[k]));
  return pattern === value;
}

/** The functions (logical ids) whose EventBridge rules in the template match `e`. */
function functionsStartedBy(e: Json): string[] {
  return ofType('AWS::Events::Rule')
    .filter(([, rule]) => rule.Properties.EventPattern && matches(rule.Properties.EventPattern, e))
    .flatMap(([, rule]) =>
      (rule.Properties.Targets as Array<{ Arn: Json }>).map((t) => t.Arn['Fn::GetAtt']?.[0] as string),
    );
}

function functionOfGroup(group: string): [string, CfnResource] {
  const found = ofType('AWS::Lambda::Function').find(
    ([, f]) => (f.Properties.Environment as Json).Variables.GROUP === group,
  );
  if (!found) throw new Error(`no function for group ${group}`);
  return found;
}

describe('events/ samples, against the template built from deploy/sample.yml', () => {
  it("name only the sample stage's groups, servers and cluster", () => {
    for (const name of eventFiles) {
      const e = event(name);
      const group = e.group ?? e.detail?.group;
      if (group !== undefined) expect(groupNames, `${name}: group`).toContain(group);
      if (e.target !== undefined) expect(serverAddresses, `${name}: target`).toContain(e.target);
      if (e.detail?.primary !== undefined)
        expect(serverAddresses, `${name}: primary`).toContain(e.detail.primary);
      if (e.detail?.cluster !== undefined) expect(e.detail.cluster, name).toBe(sample.cluster);
      if (e.region !== undefined) expect(e.region, name).toBe(sample.region);
    }
  });

  it("the schedule input is exactly what the template's schedule rule sends the group's function", () => {
    const [id] = functionOfGroup('web');
    const inputs = ofType('AWS::Events::Rule')
      .filter(([, r]) => r.Properties.ScheduleExpression)
      .flatMap(([, r]) => r.Properties.Targets as Array<{ Arn: Json; Input: string }>)
      .filter((t) => t.Arn['Fn::GetAtt']?.[0] === id)
      .map((t) => JSON.parse(t.Input));
    expect(inputs).toEqual([event('schedule')]);
  });

  it("the raw scheduled event names a schedule rule of the sample stack's web function", () => {
    const e = event('eventbridge-scheduled');
    const [id] = functionOfGroup('web');
    const scheduleRules = ofType('AWS::Events::Rule')
      .filter(([, r]) => r.Properties.ScheduleExpression)
      .filter(([, r]) =>
        (r.Properties.Targets as Array<{ Arn: Json }>).some((t) => t.Arn['Fn::GetAtt']?.[0] === id),
      )
      .map(([ruleId]) => ruleId);
    // CloudFormation names an unnamed rule <stack>-<logical id>-<suffix>.
    const rule = String(e.resources[0]).replace(/^arn:aws:events:[^:]+:\d{12}:rule\//, '');
    expect(
      scheduleRules.some((ruleId) => rule.startsWith(`mysql-failover-sample-${ruleId}-`)),
      rule,
    ).toBe(true);
    expect(parseEvent(e)).toMatchObject({ trigger: 'schedule', action: 'check' });
  });

  it("the alarm event is one the template's rules deliver, to the functions of the groups listing the alarm", () => {
    const e = event('alarm-state-change');
    const listing = sample.groups.filter((g: Json) => g.alarms?.includes(e.detail.alarmName));
    expect(listing.length).toBeGreaterThan(0);
    expect(functionsStartedBy(e).sort()).toEqual(listing.map((g: Json) => functionOfGroup(g.name)[0]).sort());
  });

  it("the SNS alarm comes from a group's alarm topic and names an alarm of that group", () => {
    const sns = event('alarm-sns').Records[0].Sns;
    const group = sample.groups.find((g: Json) => g.alarmTopicArn === sns.TopicArn);
    expect(group, sns.TopicArn).toBeDefined();
    expect(group.alarms).toContain(JSON.parse(sns.Message).AlarmName);
  });

  it("the watcher event is delivered by its group's watcher rule and names that group's router kind", () => {
    const e = event('watcher-primary-down');
    const configured = sample.watchdog.groups.find((g: Json) => g.name === e.detail.group);
    expect(configured, e.detail.group).toBeDefined();
    expect(e.detail.routerKind).toBe(configured.routerKind);
    expect(functionsStartedBy(e)).toEqual([functionOfGroup(e.detail.group)[0]]);
  });

  it('marks every sample that changes servers, and the forced failover loudest', () => {
    const readme = readFileSync(join(ROOT, 'events', 'README.md'), 'utf8');
    for (const name of eventFiles) {
      const e = event(name);
      const changes = ['failover', 'switchover', 'recover'].includes(e.action) && e.dryRun === false;
      const row = readme.split('\n').find((l) => l.includes(`\`${name}.json\``));
      expect(row, name).toBeDefined();
      if (changes) {
        expect(row, name).toMatch(/\*\*(yes|YES)/);
        expect(
          e.requestId,
          `${name}: a manual action that changes servers carries a request id`,
        ).toBeTruthy();
      } else if (e.action !== undefined) {
        expect(row!.trim().endsWith('| no |'), `${name}: ${row}`).toBe(true);
      } else {
        expect(row, name).toContain('only what the analysis plans');
      }
      if (e.force === true) expect(name).toMatch(/FORCED/);
    }
  });
});

describe('the documented aws lambda invoke of a manual action', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');
  const block = /```sh\n([^`]*aws lambda invoke[^`]*)```/.exec(doc)?.[1] ?? '';
  const command = block
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .join(' ')
    .replace(/\\\s+/g, ' ');

  it('turns the read timeout and the retries off in the command itself (a retry would run it twice)', () => {
    expect(command).toMatch(/^\s*AWS_MAX_ATTEMPTS=1 aws lambda invoke /);
    expect(command).toMatch(/ --cli-read-timeout 0 /);
  });

  it('names a function the template generates, for a group of the stage, with a payload the function accepts', () => {
    const name = /--function-name (\S+)/.exec(command)?.[1] ?? '';
    const [, web] = functionOfGroup('web');
    // The same service-stage-group name as the sample stage's, for the stage the docs deploy.
    expect(name.replace(/-prod-/, '-sample-')).toBe(web.Properties.FunctionName);
    // An inline JSON payload needs raw-in-base64-out on AWS CLI v2.
    expect(command).toMatch(/--cli-binary-format raw-in-base64-out/);
    const payload = /--payload '([^']*)'/.exec(command)?.[1] ?? '';
    expect(parseEvent(JSON.parse(payload))).toMatchObject({ trigger: 'console', action: 'failover' });
    expect(JSON.parse(payload).requestId).toBeTruthy();
    expect(command.trim()).toMatch(/ \S+$/); // the outfile
  });
});

/**
 * The watcher's install document, run the way the SSM Agent runs it (sh, SSM_<Name> variables), with
 * every path under a folder (MFW_INSTALL_ROOT; no systemctl here): the script it installs is the
 * repository's, the settings file holds the parameters as the watcher reads them, and what SSM would
 * refuse or the watcher would not accept installs nothing.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandDocument } from '../../functions/routers/ssm-document.js';
import { WATCHER_SCRIPT } from '../../functions/sandbox/watcher.js';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';

const require = createRequire(import.meta.url);
const { buildWatcherInstallDocument } = require('../../infra/watcher/document.cjs') as {
  buildWatcherInstallDocument: () => CommandDocument;
};

let root: string;
let haproxyConfig: string;
const document = buildWatcherInstallDocument();
const parameters = () => ({
  Cluster: 'shop',
  Group: 'api',
  RouterKind: 'haproxy',
  ConfigPath: haproxyConfig,
  Section: 'mysql_failover',
  EventBus: 'mysql-failover-prod-detect',
});
const install = (given: Record<string, string>, validate = true) =>
  runDocumentAsAgent(given, { MFW_INSTALL_ROOT: root }, { validate }, document);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'watcher-install-'));
  haproxyConfig = join(root, 'haproxy.cfg');
  writeFileSync(haproxyConfig, `global\n    stats socket ${join(root, 'admin.sock')} level admin\n`);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('watcher install document', () => {
  it('installs the repository watcher, its settings and the service, and reports what changed', async () => {
    const run = await install(parameters());
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    // The probe ran the new script with the new settings: HAProxy is not running here, so unknown.
    expect(result).toMatchObject({ ok: true, changed: true, probe: { state: 'unknown' } });
    const script = join(root, 'usr/local/lib/mysql-failover/watcher.sh');
    expect(readFileSync(script, 'utf8')).toBe(readFileSync(WATCHER_SCRIPT, 'utf8'));
    expect(statSync(script).mode & 0o777).toBe(0o755);
    const settings = join(root, 'etc/mysql-failover/watcher.env');
    expect(statSync(settings).mode & 0o777).toBe(0o600);
    expect(readFileSync(settings, 'utf8')).toContain(
      `MFW_CLUSTER=shop\nMFW_GROUP=api\nMFW_ROUTER_KIND=haproxy\nMFW_CONFIG_PATH=${haproxyConfig}\nMFW_SECTION=mysql_failover\nMFW_EVENT_BUS=mysql-failover-prod-detect\nMFW_INTERVAL_MS=250\n`,
    );
    const unit = readFileSync(join(root, 'etc/systemd/system/mysql-failover-watcher.service'), 'utf8');
    expect(unit).toContain('ExecStart=/bin/bash /usr/local/lib/mysql-failover/watcher.sh');
    expect(unit).toContain('Restart=always');

    // The daily re-application changes nothing and restarts nothing.
    const again = await install(parameters());
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: true, changed: false });
  });

  it('installs nothing when a value could break out of its line, even past SSM own checks', async () => {
    const run = await install({ ...parameters(), Group: 'api\nMFW_EVENT_BUS=elsewhere' }, false);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('"ok":false');
    expect(existsSync(join(root, 'etc/mysql-failover/watcher.env'))).toBe(false);
    expect(existsSync(join(root, 'usr/local/lib/mysql-failover/watcher.sh'))).toBe(false);
  });

  it('is refused by SSM when a parameter does not match its pattern', async () => {
    await expect(install({ ...parameters(), RouterKind: 'nginx' })).rejects.toThrow(/RouterKind/);
  });
});

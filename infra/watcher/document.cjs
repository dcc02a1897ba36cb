'use strict';
/**
 * The SSM Command document that installs or updates the backend watcher, built at package time from
 * infra/watcher/watcher.sh and infra/watcher/install.sh (the single sources; nothing generated is
 * committed). The SSM Agent runs runShellScript with sh, so the step is, joined by newlines:
 *   1. a POSIX sh prelude that maps each parameter to the watcher's MFW_* variable. Values arrive only
 *      as SSM_<Name> environment variables (interpolationType ENV_VAR, SSM Agent 3.3.2746.0 or later),
 *      never pasted into the text; then the start of a quoted here-document;
 *   2. the watcher script, verbatim (the shell expands nothing inside the here-document);
 *   3. the end marker and the installer.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');

const END_MARKER = 'MYSQL_FAILOVER_WATCHER_END';
const DIR = __dirname;

/** name -> [MFW variable, description, allowedPattern, default] */
const PARAMETERS = {
  Cluster: [
    'MFW_CLUSTER',
    'Cluster name carried by the event (the rule matches it)',
    '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
  ],
  Group: [
    'MFW_GROUP',
    'Backend group of this instance (the rule matches it)',
    '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
  ],
  RouterKind: ['MFW_ROUTER_KIND', 'haproxy, mysqlrouter or proxysql', '^(haproxy|mysqlrouter|proxysql)$'],
  ConfigPath: [
    'MFW_CONFIG_PATH',
    'Router config file (ProxySQL: the admin interface defaults file)',
    '^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32}$',
  ],
  Section: [
    'MFW_SECTION',
    'HAProxy backend/listen, MySQL Router [routing:NAME], or ProxySQL WRITER[:READER] hostgroups',
    '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$',
    'mysql_failover',
  ],
  EventBus: ['MFW_EVENT_BUS', 'EventBridge bus of the stack', '^[A-Za-z0-9._/-]{1,256}$'],
  AdminSocket: [
    'MFW_ADMIN_SOCKET',
    "HAProxy runtime API socket (empty: the config's stats socket)",
    '^((/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32})?$',
    '',
  ],
  IntervalMs: ['MFW_INTERVAL_MS', 'How often the router is read, in ms', '^[0-9]{2,5}$', '250'],
};

function read(name) {
  const text = readFileSync(path.join(DIR, name), 'utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

function prelude() {
  const lines = [
    '#!/bin/sh',
    '# Watcher install prelude (POSIX sh: the SSM Agent runs runShellScript with sh). Parameter values are',
    '# data: they arrive only as SSM_<Name> environment variables and are never pasted into this text.',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    'if [ -z "${SSM_Group+x}" ]; then',
    "  echo 'watcher-install: no SSM_<Name> parameter variables: this document needs SSM Agent 3.3.2746.0 or later' >&2",
    '  exit 2',
    'fi',
  ];
  for (const [name, [env]] of Object.entries(PARAMETERS))
    lines.push(`${env}=\${SSM_${name}-}; export ${env}`);
  lines.push(
    'mfw_watcher=$(mktemp /tmp/mysql-failover-watcher.XXXXXX) || exit 1',
    `cat >"$mfw_watcher" <<'${END_MARKER}'`,
  );
  return lines.join('\n');
}

/** The document, from the given script texts (default: the files next to this one). */
function buildWatcherInstallDocument(watcher = read('watcher.sh'), installer = read('install.sh')) {
  for (const [label, text] of [
    ['watcher', watcher],
    ['installer', installer],
  ]) {
    if (text.split('\n').includes(END_MARKER))
      throw new Error(`the ${label} script must not contain a line ${END_MARKER}`);
    if (text.includes('{{'))
      throw new Error(`the ${label} script must not contain "{{" (SSM would interpolate it)`);
  }
  const parameters = {};
  for (const [name, [, description, allowedPattern, dflt]] of Object.entries(PARAMETERS)) {
    parameters[name] = { type: 'String', description, allowedPattern, interpolationType: 'ENV_VAR' };
    if (dflt !== undefined) parameters[name].default = dflt;
  }
  return {
    schemaVersion: '2.2',
    description:
      'mysql-failover watcher: installs or updates the backend watcher (systemd service mysql-failover-watcher) that sends one EventBridge event when the local router sees the primary go down. Built from infra/watcher/watcher.sh and install.sh.',
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'installWatcher',
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: { timeoutSeconds: '120', runCommand: [prelude(), watcher, `${END_MARKER}\n${installer}`] },
      },
    ],
  };
}

module.exports = { buildWatcherInstallDocument, END_MARKER, PARAMETERS };

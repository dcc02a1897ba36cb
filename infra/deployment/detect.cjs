'use strict';
/**
 * Detection in seconds: the watcher on every backend (infra/watcher/watcher.sh) sends one EventBridge
 * event when its router sees the primary go down, and the group's rule starts the group's function at
 * once. Generated here, from the deployment config:
 *   - a dedicated event bus, so the backends' PutEvents right can name it and nothing else;
 *   - per group, a rule on that bus (an osls `eventBridge` event of the function) matching the
 *     watcher's source, detail-type, cluster and group;
 *   - the backends' right to send exactly that source and detail-type to that bus (IAM conditions
 *     events:source and events:detail-type), added to the example backend role;
 *   - the SSM Command document that installs or updates the watcher as a systemd service, and one
 *     State Manager association per group that applies it to the group's tagged backends (new ones
 *     too) and re-applies it every day so a changed script or setting reaches every backend.
 * The event only starts a normal check cycle: the watchdog observes everything itself and needs its
 * own confirmations before it acts.
 */

const WATCHER_SOURCE = 'mysql-failover.watcher';
const WATCHER_DETAIL_TYPE = 'Router Primary Down';
const BUS_ID = 'DetectionEventBus';
const DOCUMENT_ID = 'WatcherInstallDocument';

function busName(d) {
  return `${d.service}-${d.stage}-detect`;
}

const busArn = () => ({ 'Fn::GetAtt': [BUS_ID, 'Arn'] });

/** The event pattern of one group's rule (also used by the sandbox's EventBridge stand-in). */
function watcherPattern(d, group) {
  return {
    source: [WATCHER_SOURCE],
    'detail-type': [WATCHER_DETAIL_TYPE],
    detail: { cluster: [d.cluster], group: [group.name] },
  };
}

/** The function event (osls `eventBridge`) that starts a group's watchdog on its watcher events. */
function watcherEvent(d, group) {
  // osls takes the bus by name (Fn::GetAtt Name), so the rule depends on the bus resource.
  return { eventBridge: { eventBus: { 'Fn::GetAtt': [BUS_ID, 'Name'] }, pattern: watcherPattern(d, group) } };
}

/** The backends' only EventBridge right: the watcher's event, on this stack's bus. */
function backendPutEventsStatement() {
  return {
    Sid: 'SendWatcherEvents',
    Effect: 'Allow',
    Action: ['events:PutEvents'],
    Resource: [busArn()],
    Condition: {
      StringEquals: { 'events:source': WATCHER_SOURCE, 'events:detail-type': WATCHER_DETAIL_TYPE },
    },
  };
}

/** What the watcher needs to know about a group's routers: from the stored watchdog configuration. */
function routerSettings(d, group) {
  const groups = Array.isArray(d.watchdog?.groups) ? d.watchdog.groups : [];
  const g = groups.find((x) => x && x.name === group.name);
  if (!g || typeof g.routerKind !== 'string' || typeof g.configPath !== 'string') return null;
  const section = typeof g.section === 'string' ? g.section : 'mysql_failover';
  return { routerKind: g.routerKind, configPath: g.configPath, section };
}

function resources(d) {
  const out = {
    [BUS_ID]: {
      Type: 'AWS::Events::EventBus',
      Properties: {
        Name: busName(d),
        Tags: [{ Key: 'mysql-failover:cluster', Value: d.cluster }],
      },
    },
    [DOCUMENT_ID]: {
      Type: 'AWS::SSM::Document',
      Properties: {
        Name: `${d.service}-${d.stage}-watcher-install`,
        DocumentType: 'Command',
        UpdateMethod: 'NewVersion',
        // Filled in at package time (infra/deployment/router-document-plugin.cjs): the scripts' shell
        // `${VAR}`s cannot pass through osls variable resolution.
        Content: {},
        Tags: [{ Key: 'mysql-failover:stage', Value: d.stage }],
      },
    },
  };
  for (const group of d.groups) {
    const settings = routerSettings(d, group);
    // A group the stored configuration does not describe: the operator runs the document by hand
    // (docs/deployment.md), since only they know its router kind and config path.
    if (!settings) continue;
    out[`${group.id}WatcherAssociation`] = {
      Type: 'AWS::SSM::Association',
      Properties: {
        AssociationName: `${d.service}-${d.stage}-${group.key}-watcher`,
        Name: { Ref: DOCUMENT_ID },
        // $DEFAULT follows the document's default version, which each deploy moves to the new content.
        DocumentVersion: '$DEFAULT',
        Targets: [{ Key: `tag:${d.routers.tagKey}`, Values: [group.name] }],
        ScheduleExpression: 'rate(1 day)',
        ApplyOnlyAtCronInterval: false,
        MaxConcurrency: '20%',
        MaxErrors: '25%',
        Parameters: {
          Cluster: [d.cluster],
          Group: [group.name],
          RouterKind: [settings.routerKind],
          ConfigPath: [settings.configPath],
          Section: [settings.section],
          EventBus: [busName(d)],
        },
      },
    };
  }
  return out;
}

function outputs(d) {
  return {
    DetectionEventBusName: {
      Description: 'EventBridge bus the backend watchers send their events to',
      Value: busName(d),
    },
    WatcherInstallDocumentName: {
      Description: 'SSM Command document that installs or updates the backend watcher',
      Value: { Ref: DOCUMENT_ID },
    },
  };
}

module.exports = {
  WATCHER_SOURCE,
  WATCHER_DETAIL_TYPE,
  DOCUMENT_ID,
  busName,
  watcherPattern,
  watcherEvent,
  backendPutEventsStatement,
  routerSettings,
  resources,
  outputs,
};

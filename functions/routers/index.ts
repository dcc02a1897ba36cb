/** RouterSwitch: point every router of a backend group at the new primary (SSM Run Command or local bash). */
export {
  formatGroupResult,
  type LocalRoutersOptions,
  localRouterSwitchFromConfig,
  type PrintableResult,
  planDestinations,
  type RoutersSwitchArgs,
  routersStatusCommand,
  routersSwitchCommand,
} from './cli.js';
export {
  type LocalRouter,
  LocalRouterSwitch,
  type LocalRouterSwitchOptions,
  ROUTER_SCRIPT_PATH,
  runRouterScript,
  type ScriptRun,
} from './local.js';
export {
  type ApplyMode,
  DOCUMENT_PARAMETERS,
  PATTERNS,
  type RouterKind,
  type SwitchParametersInput,
  scriptEnvironment,
  validateSwitchParameters,
} from './parameters.js';
export { describeGroup, groupOutcome, parseScriptOutput, type ScriptResult } from './result.js';
export { ROUTER_SCRIPT_DIR, readRouterScriptFiles } from './script-files.js';
export { isThrottle, type SsmGroupTarget, SsmRouterSwitch, type SsmRouterSwitchOptions } from './ssm.js';
export {
  buildRouterSwitchDocument,
  type CommandDocument,
  embeddedScripts,
  type RouterScriptFiles,
  renderDocumentJson,
  validateCommandDocument,
} from './ssm-document.js';
export {
  type SsmRoutersOptions,
  ssmRouterSwitchFromConfig,
  ssmTargetsFromConfig,
} from './ssm-from-config.js';
export type {
  GroupOutcome,
  GroupSwitchResult,
  RouterAlerter,
  RouterOutcome,
  RouterResult,
  RouterSwitch,
  RouterSwitchRequest,
} from './types.js';

/** The packaging helpers live with the sandbox (its `--production` modes run the bundle too). */
export {
  ARTIFACT,
  type CfnResource,
  ensurePackaged,
  extractZip,
  ROOT,
  readTemplate,
  TEMPLATE,
  type Template,
} from '../../../functions/sandbox/production/bundle.js';

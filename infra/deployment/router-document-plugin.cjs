'use strict';
/**
 * Puts the SSM Command documents (infra/ssm/router-switch-<kind>.json, one per router kind) into the
 * packaged template as the Content of RouterSwitch<Kind>Document.
 *
 * Why a plugin and not `${file(./infra/ssm/router-switch-haproxy.json)}`: osls resolves variables inside every
 * value a variable source returns, and the document carries a shell script full of `${VAR}`; osls
 * refuses it ("Invalid variable type"), and escaping would change the script. This hook runs after
 * variable resolution and after `resources` were merged, just before the template is written, for
 * `package` and for `deploy` alike.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { buildWatcherInstallDocument } = require('../watcher/document.cjs');
const { DOCUMENT_ID: WATCHER_DOCUMENT_ID } = require('./detect.cjs');

const KINDS = ['haproxy', 'mysqlrouter', 'proxysql'];
const documentFile = (kind) => path.join('infra', 'ssm', `router-switch-${kind}.json`);
const logicalId = (kind) => `RouterSwitch${kind[0].toUpperCase()}${kind.slice(1)}Document`;

function loadDocument(serviceDir, kind) {
  const relative = documentFile(kind);
  const file = path.join(serviceDir, relative);
  let content;
  try {
    content = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot load the router document ${relative}: ${error.message}`);
  }
  if (content?.schemaVersion !== '2.2' || !Array.isArray(content.mainSteps)) {
    throw new Error(`${relative} is not an SSM Command document (schemaVersion 2.2 with mainSteps)`);
  }
  return content;
}

class RouterDocumentPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'before:aws:package:finalize:saveServiceState': () => this.inject(),
    };
  }

  inject() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    for (const kind of KINDS) {
      const resource = template.Resources[logicalId(kind)];
      if (resource?.Type !== 'AWS::SSM::Document') {
        throw new Error(
          `the template has no AWS::SSM::Document ${logicalId(kind)} (infra/resources/router-document.yml)`,
        );
      }
      resource.Properties.Content = loadDocument(this.serverless.serviceDir, kind);
    }
    // The watcher's install document (infra/deployment/detect.cjs) carries shell scripts too.
    const watcher = template.Resources[WATCHER_DOCUMENT_ID];
    if (watcher?.Type === 'AWS::SSM::Document') watcher.Properties.Content = buildWatcherInstallDocument();
  }
}

module.exports = RouterDocumentPlugin;
module.exports.loadDocument = loadDocument;
module.exports.KINDS = KINDS;
module.exports.logicalId = logicalId;

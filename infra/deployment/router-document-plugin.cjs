'use strict';
/**
 * Puts the SSM Command document (infra/ssm/router-switch.json) into the packaged template as the
 * Content of RouterSwitchDocument.
 *
 * Why a plugin and not `${file(./infra/ssm/router-switch.json)}`: osls resolves variables inside every
 * value a variable source returns, and the document carries a shell script full of `${VAR}`; osls
 * refuses it ("Invalid variable type"), and escaping would change the script. This hook runs after
 * variable resolution and after `resources` were merged, just before the template is written, for
 * `package` and for `deploy` alike.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');

const DOCUMENT = path.join('infra', 'ssm', 'router-switch.json');
const LOGICAL_ID = 'RouterSwitchDocument';

function loadDocument(serviceDir) {
  const file = path.join(serviceDir, DOCUMENT);
  let content;
  try {
    content = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot load the router document ${DOCUMENT}: ${error.message}`);
  }
  if (content?.schemaVersion !== '2.2' || !Array.isArray(content.mainSteps)) {
    throw new Error(`${DOCUMENT} is not an SSM Command document (schemaVersion 2.2 with mainSteps)`);
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
    const resource = template.Resources[LOGICAL_ID];
    if (resource?.Type !== 'AWS::SSM::Document') {
      throw new Error(
        `the template has no AWS::SSM::Document ${LOGICAL_ID} (infra/resources/router-document.yml)`,
      );
    }
    resource.Properties.Content = loadDocument(this.serverless.serviceDir);
  }
}

module.exports = RouterDocumentPlugin;
module.exports.loadDocument = loadDocument;

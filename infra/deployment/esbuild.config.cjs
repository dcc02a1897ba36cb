'use strict';
/**
 * serverless-esbuild configuration (serverless.yml `custom.esbuild.config`): the one set of bundle
 * options in scripts/esbuild-options.mjs, shared with scripts/build.mjs (benchmarks, smoke tests), plus
 * what only the packaging plugin reads. serverless-esbuild loads this file with require(); Node 22.12+
 * (the version `npm run package` runs on) can require() the ES module that holds the shared options.
 */
module.exports = () => {
  const { bundleOptions } = require('../../scripts/esbuild-options.mjs');
  return {
    ...bundleOptions,
    // Stack traces need only the mappings: without the sources the map is much smaller, and so is the
    // cost of --enable-source-maps when it is turned on (docs/deployment.md).
    sourcesContent: false,
    // .mjs: Lambda loads the bundle as an ES module without a package.json next to it.
    outputFileExtension: '.mjs',
    // The AWS SDK v3 is bundled, not taken from the runtime (measured: docs/deployment.md).
    exclude: [],
  };
};

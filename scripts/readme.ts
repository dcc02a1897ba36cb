// Rewrites the generated tables of README.md (npm run readme).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderReadme } from '../functions/docs/readme-tables.js';

const before = readFileSync('README.md', 'utf8');
const after = renderReadme(before);
if (after !== before) writeFileSync('README.md', after);
console.log(after === before ? 'README.md tables are up to date' : 'README.md tables rewritten');

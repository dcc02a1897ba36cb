'use strict';
// A small stand-in for iconv-lite in the Lambda bundle (esbuild alias; see scripts/esbuild-options.mjs).
// mysql2 needs iconv-lite only for character sets that Node's Buffer cannot decode; the watchdog always
// connects with utf8mb4, so results arrive as UTF-8 or binary and this path is cold. Where it is taken,
// Node's own TextDecoder (full ICU) decodes every character set MySQL and MariaDB send; encoding to a
// non-UTF-8 connection character set is refused loudly instead of writing wrong bytes.
// Keeping the real iconv-lite out saves about 490 KB of bundle (measured by bench:check).

const ALIASES = {
  cp1252: 'windows-1252',
  latin1: 'windows-1252',
  cp1250: 'windows-1250',
  cp1251: 'windows-1251',
  cp1256: 'windows-1256',
  cp1257: 'windows-1257',
  cp866: 'ibm866',
  koi8r: 'koi8-r',
  koi8u: 'koi8-u',
  eucjpms: 'euc-jp',
  ujis: 'euc-jp',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  euckr: 'euc-kr',
  gb2312: 'gbk',
  gb18030: 'gb18030',
  big5: 'big5',
  utf16: 'utf-16be',
  utf16le: 'utf-16le',
  cesu8: 'utf-8',
  utf8mb3: 'utf-8',
};

function label(encoding) {
  const key = String(encoding)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
  return ALIASES[key] || encoding;
}

function getDecoder(encoding) {
  let decoder;
  try {
    decoder = new TextDecoder(label(encoding));
  } catch {
    throw new Error(`character set ${encoding} cannot be decoded by this runtime`);
  }
  return {
    write: (buffer) => decoder.decode(buffer, { stream: true }),
    end: () => decoder.decode(),
  };
}

function getEncoder(encoding) {
  const target = label(encoding);
  if (target === 'utf-8') {
    return { write: (text) => Buffer.from(text, 'utf8'), end: () => undefined };
  }
  throw new Error(
    `encoding to character set ${encoding} is not supported: connect with charset utf8mb4 (the watchdog always does)`,
  );
}

function encodingExists(encoding) {
  try {
    new TextDecoder(label(encoding));
    return true;
  } catch {
    return false;
  }
}

module.exports = {
  getDecoder,
  getEncoder,
  encodingExists,
  decode: (buffer, encoding) => {
    const d = getDecoder(encoding);
    return d.write(buffer) + d.end();
  },
  encode: (text, encoding) => getEncoder(encoding).write(text),
};

/**
 * Masking of secrets in anything shown: configuration errors, and values that may hold a secret. The
 * whole `credentials` subtree is secret (a user and password may be written as one string, an object
 * or a list), as is any value under a secret-like key, and the user:password part of a URL
 * (`mysql://user:password@host`).
 */

/** Keys whose values are secrets wherever they appear. */
export const SECRET_KEY = /pass(word)?|secret|token|credential|private.?key|api.?key|auth/i;
export const MASK = '***';

/** Whether a value at this key path is a secret (the credentials subtree, or a secret-like key). */
export function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some((key) => typeof key === 'string' && SECRET_KEY.test(key));
}

/** A string with every URL's user:password part masked. */
export function maskUrlCredentials(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s"']*@/g, `$1${MASK}@`);
}

/** A copy of `value` with every secret masked (for display only). */
export function maskSecrets(value: unknown, path: readonly PropertyKey[] = []): unknown {
  if (isSecretPath(path)) return value === undefined ? undefined : MASK;
  if (typeof value === 'string') return maskUrlCredentials(value);
  if (Array.isArray(value)) return value.map((v, i) => maskSecrets(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, maskSecrets(v, [...path, k])]),
    );
  }
  return value;
}

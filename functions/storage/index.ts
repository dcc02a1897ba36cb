export { FolderObjectStore } from './folder-store.js';
export {
  normalizeKey,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  readAll,
} from './object-store.js';
export { type OpenStoreOptions, openObjectStore, parseStoreUrl, type StoreLocation } from './open-store.js';
export { S3ObjectStore, type S3StoreOptions } from './s3-store.js';

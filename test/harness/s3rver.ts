/** The local S3 endpoint lives with the sandbox harness (the production mode uses it too). */
export { type LocalS3, startLocalS3 } from '../../functions/sandbox/harness/s3rver.js';

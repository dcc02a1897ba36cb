'use strict';
/**
 * The dumps bucket: dumps, salvaged transactions and audit records stream here. Private (every public
 * access block on, objects owned by the bucket owner), encrypted by default (SSE-S3 or SSE-KMS with the
 * configured key), reachable over TLS only.
 *
 * Records are kept apart from dumps: reseed dumps go under `<prefix>/dumps/` and are expired by the
 * lifecycle rule; salvage and audit records under `<prefix>/operations/` never expire, and the
 * function's role cannot delete them (it has no s3:DeleteObject, and versioning keeps every earlier
 * version of an object it overwrites; it has no s3:DeleteObjectVersion either).
 */

const bucketArn = { 'Fn::GetAtt': ['DumpsBucket', 'Arn'] };

function encryption(dumps) {
  if (dumps.encryption === 'SSE-KMS') {
    return {
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: dumps.kmsKeyArn },
          // One data key per bucket instead of per object: fewer KMS calls for multipart dumps.
          BucketKeyEnabled: true,
        },
      ],
    };
  }
  return {
    ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
  };
}

function lifecycle(dumps) {
  const rules = [
    {
      Id: 'incomplete-uploads',
      Status: 'Enabled',
      Prefix: `${dumps.prefix}/`,
      // A dump interrupted by the Lambda deadline leaves parts behind; they cost money and hold data.
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    },
    {
      // Idempotency records of manual actions and the last alert sent: small, needed for a day at most.
      Id: 'requests',
      Status: 'Enabled',
      Prefix: `${dumps.prefix}/requests/`,
      ExpirationInDays: 7,
      NoncurrentVersionExpiration: { NoncurrentDays: 7 },
    },
    {
      Id: 'alert-state',
      Status: 'Enabled',
      Prefix: `${dumps.prefix}/alerts/`,
      NoncurrentVersionExpiration: { NoncurrentDays: 7 },
    },
  ];
  if (dumps.expireAfterDays > 0) {
    // Only dumps: a copy of the primary as it was, which a new reseed makes again at any time.
    rules.push({
      Id: 'dumps',
      Status: 'Enabled',
      Prefix: `${dumps.prefix}/dumps/`,
      ExpirationInDays: dumps.expireAfterDays,
      NoncurrentVersionExpiration: { NoncurrentDays: dumps.expireAfterDays },
    });
  }
  return { Rules: rules };
}

function dumpsBucket(d) {
  const properties = {
    BucketEncryption: encryption(d.dumps),
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    },
    OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    LifecycleConfiguration: lifecycle(d.dumps),
    Tags: [{ Key: 'mysql-failover:cluster', Value: d.cluster }],
  };
  if (d.dumps.bucketName) properties.BucketName = d.dumps.bucketName;
  // Always: an object the function overwrites keeps its earlier version (salvage and audit records).
  properties.VersioningConfiguration = { Status: 'Enabled' };
  return {
    DumpsBucket: {
      Type: 'AWS::S3::Bucket',
      // Dumps may be the only copy of transactions salvaged from a failed primary: never delete them
      // with the stack.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: properties,
    },
    DumpsBucketPolicy: {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: { Ref: 'DumpsBucket' },
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ],
        },
      },
    },
  };
}

/** `s3://bucket/prefix` for the watchdog's DUMPS_URL. */
function dumpsUrl(d) {
  return { 'Fn::Join': ['', ['s3://', { Ref: 'DumpsBucket' }, `/${d.dumps.prefix}`]] };
}

module.exports = { dumpsBucket, dumpsUrl };

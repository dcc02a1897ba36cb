'use strict';
/**
 * The dumps bucket: dumps, salvaged transactions and audit records stream here. Private (every public
 * access block on, objects owned by the bucket owner), encrypted by default (SSE-S3 or SSE-KMS with the
 * configured key), reachable over TLS only, expired by a lifecycle rule.
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
  const rule = {
    Id: 'dumps',
    Status: 'Enabled',
    Prefix: `${dumps.prefix}/`,
    // A dump interrupted by the Lambda deadline leaves parts behind; they cost money and hold data.
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
  };
  if (dumps.expireAfterDays > 0) {
    rule.ExpirationInDays = dumps.expireAfterDays;
    if (dumps.versioning) rule.NoncurrentVersionExpiration = { NoncurrentDays: dumps.expireAfterDays };
  }
  return { Rules: [rule] };
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
  if (d.dumps.versioning) properties.VersioningConfiguration = { Status: 'Enabled' };
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

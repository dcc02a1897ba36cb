/** Secrets Manager: the database credentials; see README.md. */
export { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** Lambda: the continuation of an operation stopped at the deadline, and Lambda hooks; see README.md. */
export { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

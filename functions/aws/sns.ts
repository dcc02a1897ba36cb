/** SNS: the operation summary, and SNS hooks; see README.md. */
export { PublishCommand, SNSClient } from '@aws-sdk/client-sns';

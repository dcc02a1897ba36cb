/** SNS: the operation summary; see README.md. */
export { PublishCommand, SNSClient } from '@aws-sdk/client-sns';

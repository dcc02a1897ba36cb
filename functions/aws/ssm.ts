/** The SSM commands the watchdog sends (config parameters, the router switch, SSM hooks); see README.md. */
export {
  GetParametersByPathCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';

/** The SSM commands the watchdog sends (config parameters and the router switch); see README.md. */
export { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';

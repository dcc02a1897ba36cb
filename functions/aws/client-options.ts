/**
 * Options every AWS SDK client of the watchdog is built with: a connect timeout and a request timeout
 * on the HTTP handler (an unanswered API call must not hold a failover until the Lambda deadline), and
 * the SDK's standard retries. The object store's S3 client is built with the same options. The endpoint comes from the SDK's own settings (AWS_ENDPOINT_URL,
 * AWS_ENDPOINT_URL_<SERVICE>), which is how the production-shaped tests point the bundle at the stand-in.
 */
export interface AwsClientOptions {
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true };
  maxAttempts: number;
}

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function awsClientOptions(env: NodeJS.ProcessEnv = process.env): AwsClientOptions {
  return {
    requestHandler: {
      connectionTimeout: positive(env.AWS_CONNECT_TIMEOUT_MS, 3_000),
      requestTimeout: positive(env.AWS_REQUEST_TIMEOUT_MS, 10_000),
      // Without it the SDK's HTTP handler only logs a warning when requestTimeout passes and keeps
      // waiting (an endpoint that never answers held a call until the run's deadline). The timer ends
      // when the response headers arrive: a long download is not cut.
      throwOnRequestTimeout: true,
    },
    maxAttempts: positive(env.AWS_MAX_ATTEMPTS, 3),
  };
}

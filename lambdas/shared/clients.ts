/**
 * AWS SDK v3 clients, created lazily once per container and reused across invocations.
 *
 * Endpoints come from the standard SDK variables (AWS_ENDPOINT_URL_DYNAMODB, _SQS, _SNS, _S3),
 * which the SDK honours by itself. SQS is the exception: its client sends each request to the
 * host of the QueueUrl unless `endpoint` is set explicitly, so AWS_ENDPOINT_URL_SQS is passed
 * through here. S3 emulators need path-style URLs (ENV.s3ForcePathStyle = "true").
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { ENV } from "../../src/contracts/functions";
import { tracer } from "./runtime";

/** Marked pure at each use so a bundle keeps only the clients its handler calls. */
function lazy<T>(create: () => T): () => T {
  let instance: T | undefined;
  return () => (instance ??= create());
}

/** Every SDK call becomes an X-Ray subsegment (a no-op where tracing is off). */
const traced = <T>(client: T): T => tracer.captureAWSv3Client(client);

export const dynamodb = /* @__PURE__ */ lazy(() => traced(new DynamoDBClient({ maxAttempts: 2 })));

export const documentClient = /* @__PURE__ */ lazy(() =>
  DynamoDBDocumentClient.from(dynamodb(), {
    marshallOptions: { removeUndefinedValues: true },
  }),
);

export const sqs = /* @__PURE__ */ lazy(() => {
  const endpoint = process.env.AWS_ENDPOINT_URL_SQS;
  return traced(new SQSClient({ maxAttempts: 2, ...(endpoint ? { endpoint } : {}) }));
});

export const sns = /* @__PURE__ */ lazy(() => traced(new SNSClient({ maxAttempts: 2 })));

export const s3 = /* @__PURE__ */ lazy(() =>
  traced(new S3Client({ maxAttempts: 2, forcePathStyle: process.env[ENV.s3ForcePathStyle] === "true" })),
);

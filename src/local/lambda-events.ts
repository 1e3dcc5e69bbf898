/** Builders for Lambda events and contexts (no jest import: the benchmark uses them too). */

import { randomUUID } from "node:crypto";
import type { ALBEvent, APIGatewayProxyEventV2, Context, SQSEvent, SQSRecord } from "aws-lambda";

export interface HttpInput {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  base64?: boolean;
  pathParameters?: Record<string, string>;
}

export function httpApiEvent(input: HttpInput): APIGatewayProxyEventV2 {
  const headers = Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const body = input.body === undefined ? undefined : input.base64 ? Buffer.from(input.body).toString("base64") : input.body;
  return {
    version: "2.0",
    routeKey: `${input.method} ${input.path}`,
    rawPath: input.path,
    rawQueryString: "",
    headers,
    requestContext: {
      accountId: "000000000000",
      apiId: "api",
      domainName: "api.example.com",
      domainPrefix: "api",
      http: { method: input.method, path: input.path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "jest" },
      requestId: randomUUID(),
      routeKey: `${input.method} ${input.path}`,
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(input.pathParameters ? { pathParameters: input.pathParameters } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: input.base64 ?? false,
  };
}

export function albEvent(input: HttpInput & { multiValue?: boolean }): ALBEvent {
  const headers = Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const body = input.body === undefined ? "" : input.base64 ? Buffer.from(input.body).toString("base64") : input.body;
  const event: ALBEvent = {
    requestContext: { elb: { targetGroupArn: "arn:aws:elasticloadbalancing:ap-southeast-1:000000000000:targetgroup/tg/1" } },
    httpMethod: input.method,
    path: input.path,
    queryStringParameters: {},
    body,
    isBase64Encoded: input.base64 ?? false,
  };
  if (input.multiValue) {
    event.multiValueHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
    event.multiValueQueryStringParameters = {};
  } else {
    event.headers = headers;
  }
  return event;
}

export function sqsRecord(body: string, options: { messageId?: string; receiveCount?: number; queueArn?: string } = {}): SQSRecord {
  return {
    messageId: options.messageId ?? randomUUID(),
    receiptHandle: randomUUID(),
    body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(Date.now()),
      SenderId: "000000000000",
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: options.queueArn ?? "arn:aws:sqs:ap-southeast-1:000000000000:queue",
    awsRegion: "ap-southeast-1",
  };
}

export function sqsEvent(records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

export function fakeContext(functionName = "test-function", timeoutMs = 10_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:ap-southeast-1:000000000000:function:${functionName}`,
    memoryLimitInMB: "256",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "stream",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function paymentBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    amount: 12_345,
    currency: "SGD",
    merchant_id: "merchant-001",
    customer_id: "customer-042",
    session_id: "sess_abc123",
    metadata: { order_id: "A-1" },
    ...overrides,
  };
}

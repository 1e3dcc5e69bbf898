/**
 * The handlers' runtime toolkit, one instance each per container: Powertools Logger (JSON logs,
 * service name from POWERTOOLS_SERVICE_NAME), Tracer (X-Ray subsegments for every AWS SDK call,
 * through `traced()` in ./clients), and Metrics (payment counts as CloudWatch embedded metric
 * format, in the namespace the dashboard reads).
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { Context } from "aws-lambda";
import { METRICS_NAMESPACE, PAYMENT_METRICS } from "../../src/contracts/functions";

export const logger = new Logger();
export const tracer = new Tracer();
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE });

export type PaymentMetric = keyof typeof PAYMENT_METRICS;

/** Counts payments by outcome (accepted, refused, processed, failed, swept, adopted). */
export function countPayments(metric: PaymentMetric, count = 1): void {
  if (count > 0) metrics.addMetric(PAYMENT_METRICS[metric].name, MetricUnit.Count, count);
}

/** Reports a level, 0 included (pending payments): an alarm on it then sees every run, and silence means no run. */
export function reportPayments(metric: PaymentMetric, level: number): void {
  metrics.addMetric(PAYMENT_METRICS[metric].name, MetricUnit.Count, level);
}

/**
 * Wraps a handler: request context on every log line, and the invocation's metrics flushed at
 * its end (also when it throws).
 */
export function instrumented<E, R>(handler: (event: E, context: Context) => Promise<R>): (event: E, context: Context) => Promise<R> {
  return async (event, context) => {
    logger.addContext(context);
    try {
      return await handler(event, context);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}

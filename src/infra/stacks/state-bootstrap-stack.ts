import { LocalBackend, TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import type { DeploymentConfig } from "../../contracts/config";
import { defaultTags, Naming } from "../../contracts/names";
import { AwsStack } from "../core/aws-stack";
import { SecureBucket } from "../data/secure-bucket";
import { AccessLogBucket } from "../observability/access-log-bucket";

/**
 * Creates the remote-state bucket on local state (`cdktf deploy state`, once per environment).
 * It lives outside the primary region by default, so the DR stack stays changeable in a regional outage.
 */
export class StateBootstrapStack extends AwsStack {
  constructor(scope: Construct, id: string, config: DeploymentConfig) {
    super(scope, id, {
      region: config.stateBucketRegion,
      naming: new Naming(config.environmentSuffix),
      tags: defaultTags(config, "state"),
      logRetentionDays: config.logRetentionDays,
    });
    // Terraform runs in cdktf.out/stacks/<id>, which synth rewrites: keep the state file in the project root.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    const accessLogs = new AccessLogBucket(this, "access-logs", { baseName: "payment-state-access-logs", loadBalancerLogs: false });
    const state = new SecureBucket(this, "state-bucket", {
      accessLogs,
      bucketName: config.stateBucket,
      // No region key in this stack: the AWS-managed S3 key.
      encryption: "aws-kms",
      // Never emptied by a destroy: state outlives the stacks it describes.
      forceDestroy: false,
      lifecycleRules: [
        {
          id: "expire-old-state-versions",
          status: "Enabled",
          filter: [{ prefix: "" }],
          noncurrentVersionExpiration: [{ noncurrentDays: 90 }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
      ],
    });
    new TerraformOutput(this, "state_bucket", { value: state.bucketName });
  }
}

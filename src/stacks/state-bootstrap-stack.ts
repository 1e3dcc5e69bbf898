import { Construct } from "constructs";
import { LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DeploymentConfig } from "../config";
import { defaultTags } from "../naming";
import { SecureBucket } from "../constructs/secure-bucket";
import { AccessLogBucket, ACCESS_LOG_PREFIX } from "../constructs/access-log-bucket";
import { Naming } from "../naming";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";

/**
 * Creates the remote-state bucket on local state (`cdktf deploy state`, once per environment).
 * It lives outside the primary region by default, so the DR stack stays changeable in a regional outage.
 */
export class StateBootstrapStack extends TerraformStack {
  constructor(scope: Construct, id: string, config: DeploymentConfig) {
    super(scope, id);
    // Terraform runs in cdktf.out/stacks/<id>, which synth rewrites: keep the state file in the project root.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    new AwsProvider(this, "aws", { region: config.stateBucketRegion, defaultTags: [{ tags: defaultTags(config, "state") }] });
    const accessLogs = new AccessLogBucket(this, "access-logs", {
      naming: new Naming(config.environmentSuffix),
      region: config.stateBucketRegion,
      accountId: new DataAwsCallerIdentity(this, "account", {}).accountId,
      baseName: "payment-state-access-logs",
      loadBalancerLogs: false,
      retentionDays: config.logRetentionDays,
    });
    const state = new SecureBucket(this, "state-bucket", {
      accessLogs: { bucketName: accessLogs.bucketName, prefix: `${ACCESS_LOG_PREFIX.s3}${config.stateBucket}/` },
      bucketName: config.stateBucket,
      region: config.stateBucketRegion,
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

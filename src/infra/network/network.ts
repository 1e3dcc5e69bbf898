import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { Route } from "@cdktf/provider-aws/lib/route";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { Construct } from "constructs";
import { subnetCidrs } from "../../contracts/config";
import { AwsStack } from "../core/aws-stack";
import { assumeRolePolicy, policyDocument } from "../core/iam";
import { EncryptedLogGroup } from "../observability/log-group";

/** Interface endpoints: everything the private Lambdas call that has no gateway endpoint. */
export const INTERFACE_ENDPOINT_SERVICES = ["sqs", "sns", "kms", "secretsmanager", "sts", "logs", "xray"] as const;
export const GATEWAY_ENDPOINT_SERVICES = ["s3", "dynamodb"] as const;

export interface NetworkProps {
  readonly cidr: string;
  /** Availability-zone ids (the same zones in every account), one public and one private subnet each. */
  readonly zoneIds: readonly string[];
}

/**
 * A VPC over the given AZs with public and private subnets and no NAT gateway: private workloads
 * reach AWS only through VPC endpoints, so there is no path to the internet from them.
 */
export class Network extends Construct {
  readonly vpc: Vpc;
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly zoneIds: readonly string[];
  readonly publicSubnetIds: string[];
  readonly privateSubnetIds: string[];
  /** The route table of the private subnets (the peering route to the other region goes here). */
  readonly privateRouteTableId: string;
  /** Prefix lists of the S3 and DynamoDB gateway endpoints, for security-group egress rules. */
  readonly gatewayPrefixListIds: string[];
  readonly endpointSecurityGroupId: string;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { naming, region, accountId } = AwsStack.of(this);
    const { cidr, zoneIds } = props;

    this.vpc = new Vpc(this, "vpc", {
      cidrBlock: cidr,
      enableDnsHostnames: true,
      enableDnsSupport: true,
      tags: { Name: naming.name("payment-vpc") },
    });
    this.vpcId = this.vpc.id;
    this.vpcCidr = cidr;

    // Removes the default group's allow-all rules: nothing may use it by accident.
    new DefaultSecurityGroup(this, "default-sg", { vpcId: this.vpc.id });

    const igw = new InternetGateway(this, "igw", { vpcId: this.vpc.id, tags: { Name: naming.name("payment-igw") } });

    this.zoneIds = zoneIds;
    const cidrs = subnetCidrs(cidr, zoneIds.length);
    const makeSubnets = (tier: "public" | "private") =>
      zoneIds.map(
        (zoneId, i) =>
          new Subnet(this, `${tier}-subnet-${i}`, {
            vpcId: this.vpc.id,
            cidrBlock: cidrs[tier][i],
            availabilityZoneId: zoneId,
            mapPublicIpOnLaunch: false,
            tags: { Name: naming.name(`payment-${tier}-${zoneId}`), Tier: tier },
          }),
      );
    const publicSubnets = makeSubnets("public");
    const privateSubnets = makeSubnets("private");
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);

    const publicRoutes = new RouteTable(this, "public-rt", { vpcId: this.vpc.id, tags: { Name: naming.name("payment-public-rt") } });
    new Route(this, "public-default-route", { routeTableId: publicRoutes.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id });
    const privateRoutes = new RouteTable(this, "private-rt", { vpcId: this.vpc.id, tags: { Name: naming.name("payment-private-rt") } });
    this.privateRouteTableId = privateRoutes.id;
    for (const [tier, subnets, routes] of [
      ["public", publicSubnets, publicRoutes],
      ["private", privateSubnets, privateRoutes],
    ] as const) {
      subnets.forEach((subnet, i) => {
        new RouteTableAssociation(this, `${tier}-rta-${i}`, { subnetId: subnet.id, routeTableId: routes.id });
      });
    }

    this.gatewayPrefixListIds = GATEWAY_ENDPOINT_SERVICES.map(
      (service) =>
        new VpcEndpoint(this, `${service}-gateway-endpoint`, {
          vpcId: this.vpc.id,
          serviceName: `com.amazonaws.${region}.${service}`,
          vpcEndpointType: "Gateway",
          routeTableIds: [privateRoutes.id],
          tags: { Name: naming.name(`payment-${service}-endpoint`) },
        }).prefixListId,
    );

    const endpointSg = new SecurityGroup(this, "endpoint-sg", {
      name: naming.name("payment-endpoints-sg"),
      description: "HTTPS from inside the VPC to the interface endpoints",
      vpcId: this.vpc.id,
      ingress: [{ description: "HTTPS from the VPC", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [cidr] }],
      egress: [],
      revokeRulesOnDelete: true,
    });
    this.endpointSecurityGroupId = endpointSg.id;
    for (const service of INTERFACE_ENDPOINT_SERVICES) {
      new VpcEndpoint(this, `${service}-interface-endpoint`, {
        vpcId: this.vpc.id,
        serviceName: `com.amazonaws.${region}.${service}`,
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: this.privateSubnetIds,
        securityGroupIds: [endpointSg.id],
        tags: { Name: naming.name(`payment-${service}-endpoint`) },
      });
    }

    const flowLogGroup = new EncryptedLogGroup(this, "flow-logs", {
      name: `/aws/vpc/flow-logs/${naming.name("payment-vpc")}`,
    });
    const flowLogRole = new IamRole(this, "flow-log-role", {
      name: naming.regional("payment-flow-logs", region, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("vpc-flow-logs.amazonaws.com", { StringEquals: { "aws:SourceAccount": accountId } }),
    });
    new IamRolePolicy(this, "flow-log-policy", {
      role: flowLogRole.id,
      name: "write-flow-logs",
      policy: policyDocument([
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          Resource: [flowLogGroup.arn, `${flowLogGroup.arn}:log-stream:*`],
        },
      ]),
    });
    new FlowLog(this, "flow-log", {
      vpcId: this.vpc.id,
      trafficType: "ALL",
      logDestinationType: "cloud-watch-logs",
      logDestination: flowLogGroup.arn,
      iamRoleArn: flowLogRole.arn,
      maxAggregationInterval: 60,
    });
  }
}

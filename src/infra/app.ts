import type { App } from "cdktf";
import type { DeploymentConfig } from "../contracts/config";
import { PaymentRegionStack } from "./stacks/payment-region-stack";
import { StateBootstrapStack } from "./stacks/state-bootstrap-stack";

export interface PaymentApp {
  readonly primary: PaymentRegionStack;
  readonly dr: PaymentRegionStack;
  readonly state: StateBootstrapStack;
}

/** Builds the three stacks: `state` (bootstrap, local state), `primary` and `dr`. */
export function buildApp(app: App, config: DeploymentConfig): PaymentApp {
  const state = new StateBootstrapStack(app, "state", config);
  const primary = new PaymentRegionStack(app, "primary", { config, role: "primary" });
  const dr = new PaymentRegionStack(app, "dr", { config, role: "dr", primary });
  return { primary, dr, state };
}

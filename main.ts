import { App } from "cdktf";
import { ConfigError } from "./src/contracts/config";
import { deploymentConfig } from "./src/contracts/context";
import { buildApp } from "./src/infra/app";

const app = new App();
try {
  buildApp(app, deploymentConfig());
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
app.synth();

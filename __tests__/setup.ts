import { Testing } from "cdktf";
import "cdktf/lib/testing/adapters/jest";

// The adapter import only adds the matcher types; this registers them at runtime.
Testing.setupJest();

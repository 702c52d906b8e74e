#!/usr/bin/env node
// The onex command: oclif reads the command list from package.json ("oclif" section).
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });

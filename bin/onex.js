#!/usr/bin/env node
// The onex command: oclif reads the command list from package.json ("oclif" section).
import { execute, settings } from "@oclif/core";

// onex always runs its built JavaScript; never let oclif swap in TypeScript sources
// (it does by default when NODE_ENV is "test" or "development").
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });

/** The flags of every command that runs on a generated SDK (cli/sdk.ts), and of those that read the schemas alone. */
import { Flags } from "@oclif/core";

/** The schemas folder of a command that reads the schemas, not the generated SDK (schemasDirOf in cli/sdk.ts). */
export const schemasFlag = Flags.string({
  description: "Schemas folder holding the versions and their transforms (default: ./schemas when there is one, else the schemas onex ships).",
});

export const sdkFlags = {
  schemas: Flags.string({
    description: "Schemas folder whose generated SDK to use (default: ./schemas when there is one, else the schemas onex ships).",
  }),
  generated: Flags.string({
    description: "Folder `onex generate` wrote that SDK to (default: `generated` beside the schemas folder; for the schemas onex ships, @onex/sdk).",
  }),
};

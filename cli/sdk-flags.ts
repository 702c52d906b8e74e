/** The flags of every command that runs on a generated SDK (cli/sdk.ts). */
import { Flags } from "@oclif/core";

export const sdkFlags = {
  schemas: Flags.string({
    description: "Schemas folder whose generated SDK to use (default: ./schemas when there is one, else the schemas onex ships).",
  }),
  generated: Flags.string({
    description: "Folder `onex generate` wrote that SDK to (default: `generated` beside the schemas folder; for the schemas onex ships, @onex/sdk).",
  }),
};

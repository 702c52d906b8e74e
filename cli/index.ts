/** The command list oclif loads (explicit, so start-up does not scan folders). */
import Generate from "./commands/generate.js";
import Validate from "./commands/validate.js";

export const COMMANDS = {
  generate: Generate,
  validate: Validate,
};

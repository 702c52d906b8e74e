/** The command list oclif loads (explicit, so start-up does not scan folders). */
import Attest from "./commands/attest.js";
import Generate from "./commands/generate.js";
import GrantInspect from "./commands/grant/inspect.js";
import GrantIssue from "./commands/grant/issue.js";
import GrantRevoke from "./commands/grant/revoke.js";
import Keygen from "./commands/keygen.js";
import Sign from "./commands/sign.js";
import Validate from "./commands/validate.js";
import Verify from "./commands/verify.js";

export const COMMANDS = {
  attest: Attest,
  generate: Generate,
  "grant:inspect": GrantInspect,
  "grant:issue": GrantIssue,
  "grant:revoke": GrantRevoke,
  keygen: Keygen,
  sign: Sign,
  validate: Validate,
  verify: Verify,
};

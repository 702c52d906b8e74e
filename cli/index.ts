/** The command list oclif loads (explicit, so start-up does not scan folders). */
import ArtifactFetch from "./commands/artifact/fetch.js";
import ArtifactLs from "./commands/artifact/ls.js";
import ArtifactPublish from "./commands/artifact/publish.js";
import AsyncApi from "./commands/asyncapi.js";
import Attest from "./commands/attest.js";
import Check from "./commands/check.js";
import Diff from "./commands/diff.js";
import DlqList from "./commands/dlq/list.js";
import DlqReplay from "./commands/dlq/replay.js";
import DlqShow from "./commands/dlq/show.js";
import Docs from "./commands/docs.js";
import Generate from "./commands/generate.js";
import GrantInspect from "./commands/grant/inspect.js";
import GrantIssue from "./commands/grant/issue.js";
import GrantRevoke from "./commands/grant/revoke.js";
import Keygen from "./commands/keygen.js";
import Migrate from "./commands/migrate.js";
import NatsAuth from "./commands/nats-auth.js";
import Negotiate from "./commands/negotiate.js";
import Replay from "./commands/replay.js";
import RegistryDeregister from "./commands/registry/deregister.js";
import RegistryList from "./commands/registry/list.js";
import RegistryRegister from "./commands/registry/register.js";
import RegistryResolve from "./commands/registry/resolve.js";
import RegistryWatch from "./commands/registry/watch.js";
import Sign from "./commands/sign.js";
import StreamsApply from "./commands/streams/apply.js";
import Validate from "./commands/validate.js";
import Verify from "./commands/verify.js";
import Versions from "./commands/versions.js";

export const COMMANDS = {
  "artifact:fetch": ArtifactFetch,
  "artifact:ls": ArtifactLs,
  "artifact:publish": ArtifactPublish,
  asyncapi: AsyncApi,
  attest: Attest,
  check: Check,
  diff: Diff,
  "dlq:list": DlqList,
  "dlq:replay": DlqReplay,
  "dlq:show": DlqShow,
  docs: Docs,
  generate: Generate,
  "grant:inspect": GrantInspect,
  "grant:issue": GrantIssue,
  "grant:revoke": GrantRevoke,
  keygen: Keygen,
  migrate: Migrate,
  "nats-auth": NatsAuth,
  negotiate: Negotiate,
  replay: Replay,
  "registry:deregister": RegistryDeregister,
  "registry:list": RegistryList,
  "registry:register": RegistryRegister,
  "registry:resolve": RegistryResolve,
  "registry:watch": RegistryWatch,
  sign: Sign,
  "streams:apply": StreamsApply,
  validate: Validate,
  verify: Verify,
  versions: Versions,
};

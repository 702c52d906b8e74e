# v0.2 -> v0.1 in jq: the same downgrade `onex migrate v0.2 v0.1` performs, residue included
# (no schema validation: jq has none). Used by bench/migrate.bench.ts.
def v01protocol: {version: "0.1", compatible_with: ["0.0.9"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.1/manifest.yaml"};
def v02protocol: {version: "0.2", compatible_with: ["0.1"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.2/manifest.yaml"};
def keep($k; $v): .r[$k] = $v;
{m: ., r: {}}
| .m.protocol |= (if . == v02protocol then v01protocol
                  elif (. + {version: "0.1"}) == v01protocol then (v02protocol + {version: "0.1"})
                  else . + {version: "0.1"} end)
| if .m.type == "signal.task.dispatch" then
    (if .m.payload.retry then keep("/payload/retry"; .m.payload.retry) | .m.payload |= del(.retry) else . end)
    | (if (.m.payload.targets | length) != 1 then keep("/payload/targets"; .m.payload.targets) else . end)
    | .m.payload |= (.target = .targets[0] | del(.targets) | .action = .operation | del(.operation))
  elif .m.type == "event.node.register" then
    (if .m.payload.build.version != "unknown" then keep("/payload/build/version"; .m.payload.build.version) else . end)
    | .m.payload |= (.build_fingerprint = .build.fingerprint | del(.build))
  elif .m.type == "event.node.failed" then
    (if .m.payload.reason.code != "unspecified" then keep("/payload/reason/code"; .m.payload.reason.code) else . end)
    | .m.payload.reason |= .message
  elif .m.type == "signal.state.update" then
    .m.payload.state as $s
    | ({"idle": "idle", "running": "busy", "draining": "draining", "offline": "offline"}[$s] // "busy") as $o
    | (if $o == "busy" and $s != "running" then keep("/payload/state"; $s) else . end)
    | .m.payload.state = $o
  else . end
| .r as $r
| if $r == {} then .m
  elif .m._residue == null then .m + {_residue: {"0.2": $r}}
  elif .m._residue["0.2"] == null then .m | ._residue["0.2"] = $r
  else .m | ._residue["0.2"] = ($r + {_prior: ._residue["0.2"]}) end

/** The subject an example message travels on, token by token, for documentation. */
import { encodeSubjectToken } from "@onex/runtime";
import { pathValue } from "../load-version.js";
import type { SubjectModel } from "../model.js";

export interface WorkedParam {
  name: string;
  /** JSON Pointer into the envelope, `/source/zone`. */
  pointer: string;
  value: string;
  /** The value as one NATS token, `zone~2Etrusted~2Eorg`. */
  token: string;
}

export interface WorkedSubject {
  template: string;
  subject: string;
  params: WorkedParam[];
}

/** Fills `subject`'s placeholders from `message` with the runtime's own token encoding. */
export function workedSubject(subject: SubjectModel, message: unknown): WorkedSubject {
  const params: WorkedParam[] = [];
  const tokens = subject.tokens.map((token) => {
    if (typeof token === "string") return token;
    const path = subject.params[token.param]!;
    const value = String(pathValue(message, path));
    const encoded = encodeSubjectToken(value, token.param);
    params.push({ name: token.param, pointer: `/${path.map((s) => s.replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`, value, token: encoded });
    return encoded;
  });
  return { template: subject.template, subject: tokens.join("."), params };
}

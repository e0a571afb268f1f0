// sdk_tpm.mjs - MAA's TPM protocol through the official SDK's attestTpm (@azure/attestation
// 1.0.0, unmodified), both rounds, with a real software TPM. Started by run_interop.py, which
// starts swtpm on loopback, makes an AK under its EK with tpm2-tools, and an attestd pinning it:
//   TPM_URL        plain-HTTP attestd with --tpm-ak (the AK's PEM)
//   TPM_DIR        ak.ctx (the AK's context), ak.tpm2b (its TPM2B_PUBLIC)
//   TPM2TOOLS_TCTI swtpm's TCTI, for tpm2_quote
// Round 1 {"payload": {"type": "aikcert"}} gives the challenge; swtpm quotes sha256:0-7 with it
// (tpm2_quote -q); round 2 {"request": {service_context, ak, quote, signature, pcrs}} answers
// {"report": JWT}, which must verify against /certs (jose) with the quoted PCRs as claims. The
// same round 2 again: the SDK rejects it with attestd's 400 (the context is single-use).
// Prints "N passed, M failed" and exits 1 on any failure.
import { AttestationClient } from "@azure/attestation";
import * as jose from "jose";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";

const env = process.env;
const URL_ = env.TPM_URL, DIR = env.TPM_DIR;

let passed = 0, failed = 0;
function check(what, cond, detail) {
  if (cond) { passed++; return true; }
  failed++;
  console.log(`FAIL: ${what}` + (detail !== undefined ? `\n  | ${String(detail).slice(0, 1500).replace(/\n/g, "\n  | ")}` : ""));
  return false;
}
const f = (n) => path.join(DIR, n);
const b64url = (b) => Buffer.from(b).toString("base64url");

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let b = ""; res.setEncoding("utf8");
      res.on("data", (c) => (b += c));
      res.on("end", () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    }).on("error", reject);
  });
}

function tool(...args) {
  return execFileSync(args[0], args.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
}

try {
  const client = new AttestationClient(URL_, { allowInsecureConnection: true });
  // round 1
  const r1 = JSON.parse(await client.attestTpm(JSON.stringify({ payload: { type: "aikcert" } })));
  const p = r1.payload || {};
  const ch = Buffer.from(p.challenge || "", "base64url");
  check("round 1: a 32-byte challenge and a service_context", ch.length === 32 &&
        typeof p.service_context === "string", JSON.stringify(r1));
  // the TPM quotes with the challenge
  tool("tpm2_quote", "-c", f("ak.ctx"), "-l", "sha256:0,1,2,3,4,5,6,7", "-q", ch.toString("hex"),
       "-g", "sha256", "-m", f("q.msg"), "-s", f("q.sig"), "-o", f("q.pcrs"), "-F", "values");
  tool("tpm2_flushcontext", "-t");
  const vals = readFileSync(f("q.pcrs"));
  const pcrs = [{ algorithm: "sha256", values: [...Array(8).keys()].map((i) => (
    { index: i, digest: vals.subarray(32 * i, 32 * i + 32).toString("hex") })) }];
  const request = { request: { service_context: p.service_context, ak: b64url(readFileSync(f("ak.tpm2b"))),
                               quote: b64url(readFileSync(f("q.msg"))),
                               signature: b64url(readFileSync(f("q.sig"))), pcrs } };
  // round 2 through the SDK
  const r2 = JSON.parse(await client.attestTpm(JSON.stringify(request)));
  check("round 2: a report", typeof r2.report === "string", JSON.stringify(r2));
  const jwks = await getJson(`${URL_}/certs`);
  try {
    const { payload } = await jose.jwtVerify(r2.report, jose.createLocalJWKSet(jwks),
                                             { issuer: URL_, algorithms: ["RS256"] });
    check("round 2: the report verifies against /certs (jose), type tpm",
          payload["x-ms-attestation-type"] === "tpm", JSON.stringify(payload));
    const got = (payload["x-attestd-tpm-pcrs"] || {}).sha256 || {};
    check("round 2: the quoted PCRs are the token's", [...Array(8).keys()].every(
      (i) => got[String(i)] === pcrs[0].values[i].digest), JSON.stringify(got));
    check("round 2: the AK is the pinned one", payload["x-attestd-tpm-ak-trust"] === "pinned",
          payload["x-attestd-tpm-ak-trust"]);
  } catch (e) {
    check("round 2: the report verifies against /certs (jose)", false, e);
  }
  // the same round 2 again: the context is spent
  try {
    await client.attestTpm(JSON.stringify(request));
    check("a replayed round 2 is rejected", false, "resolved");
  } catch (e) {
    check("a replayed round 2 is rejected with 400 ATT_E_CHALLENGE", e.statusCode === 400 &&
          /ATT_E_CHALLENGE/.test(e.message), `${e.statusCode}: ${e.message}`);
  }
} catch (e) {
  check("the TPM exchange threw", false, e && (e.stack || e));
}
console.log(`interop/sdk tpm: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
